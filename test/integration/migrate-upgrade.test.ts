import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { renderTeamFiles } from '../../library-gen/src/render/team-files';
import { listArchive } from '../../agent/src/docker/archive';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment, type EnvironmentDeps } from '../../agent/src/environments/deploy';
import { migrateState } from '../../agent/src/environments/migrate';
import type { JenkinsClient } from '../../agent/src/jenkins/client';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freeBlueGreenPort, removeTeamAndImages, standinControl, TEST_JENKINS_USER } from '../support/docker-teams';
import { ensureStandinBaseImage } from '../fixtures/standin-jenkins-base/build-image';

// Real Docker engine: two releases of one team's image built from the generated Dockerfile
// (stand-in base, jenkins-plugin-cli into /usr/share/jenkins/ref/plugins, jenkins.yaml baked in),
// blue on the first, green on the second; the upgrade's migration must leave green's image in charge.
jest.setTimeout(180_000);
const docker = new Docker();
let db: TestDatabase;
let store: PgStore;
let dir: string;
let team: Team;
let images: { v1: string; v2: string };
let blue: JenkinsClient;
let green: JenkinsClient;
const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";

function teamsYaml(name: string, port: number, agentPort: number, base: string, release: Release): string {
  return [
    'jenkins_teams:',
    `  - team_name: ${name}`,
    '    self_management_enabled: true',
    `    web_port: ${port}`,
    `    agent_port: ${agentPort}`,
    `    jenkins_user: ${TEST_JENKINS_USER}`,
    `    jenkins_token_file: ${join(dir, 'jenkins-token')}`,
    `    jenkins_base_image: ${base}`,
    '    jenkins_configuration:',
    `      system_message: ${release.message}`,
    '    plugins:',
    ...Object.entries(release.plugins).map(([p, v]) => `      ${p}: "${v}"`),
    '    shared_library:',
    '      scm_url: https://git.example.com/jenkins/jsm-library.git',
  ].join('\n');
}

async function buildImage(t: Team, tag: string): Promise<void> {
  const pack = tarPack();
  for (const f of renderTeamFiles(t)) pack.entry({ name: f.path.split('/').pop() as string, mode: 0o644 }, f.content);
  pack.finalize();
  const stream = await docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: tag, networkmode: 'host', rm: true, forcerm: true });
  const events = await new Promise<Array<{ error?: string }>>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => (err ? reject(err) : resolve(out))));
  const failed = events.find((e) => e.error);
  if (failed) throw new Error(`docker build of ${tag} failed: ${failed.error}`);
}

async function systemMessage(c: JenkinsClient): Promise<string> {
  const r = await c.raw('GET', '/api/json?tree=description');
  return ((await r.json()) as { description: string }).description;
}
const pluginSet = async (c: JenkinsClient): Promise<Record<string, string>> => Object.fromEntries((await c.plugins()).map((p) => [p.shortName, p.version]));

/** Polls until the controller answers again (after /reload or a restart); bounded. */
async function answering(c: JenkinsClient): Promise<void> {
  for (let i = 0; i < 240; i++) {
    if (await c.root().then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${c.label} did not answer within 60 s`);
}

interface Release {
  message: string;
  plugins: Record<string, string>;
}
const V1: Release = { message: 'release one', plugins: { 'job-dsl': '1.87', git: '5.0.0', 'retired-plugin': '0.9' } };
const V2: Release = { message: 'release two', plugins: { 'job-dsl': '1.88', git: '5.2.0', timestamper: '1.26' } };

beforeAll(async () => {
  const base = await ensureStandinBaseImage(docker);
  const name = `upg${randomBytes(4).toString('hex')}`;
  dir = mkdtempSync(join(tmpdir(), `jsm-${name}-`));
  const token = randomBytes(12).toString('hex');
  writeFileSync(join(dir, 'jenkins-token'), `${token}\n`, { mode: 0o600 });
  const [port, agentPort] = [await freeBlueGreenPort(), await freeBlueGreenPort()];
  const parse = (release: Release): Team => {
    const parsed = parseTeamsDocument(teamsYaml(name, port, agentPort, base, release), 'upgrade.yml');
    if (parsed.errors.length) throw new Error(parsed.errors.join('\n'));
    return parsed.teams[0];
  };
  team = parse(V1);
  images = { v1: `jsm-${name}:1`, v2: `jsm-${name}:2` };
  await buildImage(team, images.v1);
  await buildImage(parse(V2), images.v2);
  db = await createTestDatabase('upgrade');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-upgrade' });
  const jenkinsFor = teamJenkinsClientFactory();
  const deps: EnvironmentDeps = { docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } };
  await deployEnvironment(deps, team, { target: 'blue', image: images.v1, timeoutSec: 60, replace: true });
  await deployEnvironment(deps, team, { target: 'green', image: images.v2, timeoutSec: 60, replace: true });
  for (const env of ['blue', 'green'] as const) await standinControl(team, env, { users: [{ name: TEST_JENKINS_USER, token }] });
  blue = jenkinsFor(team, 'blue');
  green = jenkinsFor(team, 'green');
});

afterAll(async () => {
  if (team) await removeTeamAndImages(docker, team.team_name, Object.values(images ?? {}));
  await store?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a version upgrade's migration keeps the new image's plugins and jenkins.yaml after the copy, a /reload and a restart, and brings jobs with their history", async () => {
  // Before: each side runs what its image brought.
  expect(await pluginSet(blue)).toMatchObject(V1.plugins);
  expect(await pluginSet(green)).toMatchObject(V2.plugins);
  expect(await systemMessage(blue)).toContain('blue environment. Configured as code by jenkins-selfmanage: changes made here are lost at the next switch. release one');
  expect(await systemMessage(green)).toContain('green environment. Configured as code by jenkins-selfmanage: changes made here are lost at the next switch. release two');
  await blue.createJob('app', PIPELINE);
  const history = tarPack();
  history.entry({ name: 'jobs/app/builds/1/log' }, 'Started by user admin\nFinished: SUCCESS\n');
  history.entry({ name: 'jobs/app/nextBuildNumber' }, '2\n');
  history.entry({ name: 'credentials.xml' }, '<com.cloudbees.plugins.credentials.SystemCredentialsProvider/>\n');
  history.finalize();
  await docker.getContainer(team.environments.blue.container).putArchive(history as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });

  const r = await migrateState({ docker, jenkinsFor: teamJenkinsClientFactory() }, team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200, operation: 'version_upgrade' });
  expect(r).toMatchObject({ operation: 'version_upgrade', imageOwned: true, includeBuilds: true, jobs: 1 });
  expect(r.leftToImage).toEqual(expect.arrayContaining(['config.xml', 'plugins']));

  const expectUpgraded = async (when: string): Promise<void> => {
    expect([when, await pluginSet(green)]).toEqual([when, expect.objectContaining(V2.plugins)]);
    expect([when, await systemMessage(green)]).toEqual([when, expect.stringContaining('release two')]);
    const app = (await green.listJobs()).find((j) => j.fullName === 'app');
    expect([when, app?.nextBuildNumber]).toEqual([when, 2]);
  };
  await expectUpgraded('after the migration');
  await green.reload();
  await answering(green);
  await expectUpgraded('after /reload');
  await docker.getContainer(team.environments.green.container).restart({ t: 5 });
  await answering(green);
  await expectUpgraded('after a restart');
  // What the home owns came along: the build's log and the credentials file.
  const copied = await listArchive(await docker.getContainer(team.environments.green.container).getArchive({ path: '/var/jenkins_home' }));
  expect(copied.map((f) => f.path)).toEqual(expect.arrayContaining(['jenkins_home/jobs/app/builds/1/log', 'jenkins_home/credentials.xml']));
  await blue.cancelQuietDown();
});

test("a switch between sides of two images is image-owned too; copying the old side's plugins by hand shows what the rule prevents", async () => {
  const r = await migrateState({ docker, jenkinsFor: teamJenkinsClientFactory() }, team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200, operation: 'switch' });
  expect(r).toMatchObject({ imageOwned: true, leftToImage: expect.arrayContaining(['plugins']) });
  expect(await pluginSet(green)).not.toHaveProperty('retired-plugin');
  await blue.cancelQuietDown();
  // Control: the old copy of plugins/ (what state.migrate used to do). The running controller keeps what it loaded;
  // at the next start the entrypoint upgrades the image's plugins again, but a plugin the new image dropped is back.
  const plugins = await docker.getContainer(team.environments.blue.container).getArchive({ path: '/var/jenkins_home/plugins' });
  await docker.getContainer(team.environments.green.container).putArchive(plugins, { path: '/var/jenkins_home' });
  expect(await pluginSet(green)).not.toHaveProperty('retired-plugin');
  await docker.getContainer(team.environments.green.container).restart({ t: 5 });
  await answering(green);
  expect(await pluginSet(green)).toMatchObject({ ...V2.plugins, 'retired-plugin': '0.9' });
  // And the old config.xml: a /reload reads it (JCasC does not run again), so the old release's settings are back until the next start.
  const config = await docker.getContainer(team.environments.blue.container).getArchive({ path: '/var/jenkins_home/config.xml' });
  await docker.getContainer(team.environments.green.container).putArchive(config, { path: '/var/jenkins_home' });
  await green.reload();
  await answering(green);
  expect(await systemMessage(green)).toContain('release one');
  await docker.getContainer(team.environments.green.container).restart({ t: 5 });
  await answering(green);
  expect(await systemMessage(green)).toContain('release two');
});

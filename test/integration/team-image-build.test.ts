import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { renderTeamFiles } from '../../library-gen/src/render/team-files';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment, type EnvironmentDeps } from '../../agent/src/environments/deploy';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freeBlueGreenPort, removeTeamAndImages, standinControl, TEST_JENKINS_USER } from '../support/docker-teams';
import { ensureStandinBaseImage, PLUGIN_CLI_LOG } from '../fixtures/standin-jenkins-base/build-image';

// Real Docker engine: the generated Dockerfile is built against a local stand-in of
// jenkins/jenkins (docker import, exec-form RUN only), then started as blue and as green
// by environment.deploy (real Postgres store, host networking on 127.0.0.1).
const docker = new Docker();
let db: TestDatabase;
let store: PgStore;
let deps: EnvironmentDeps;
let team: Team;
let dir: string;
let token: string;
let files: Map<string, string>;
let imageId: string;

const envOf = (env: string[] | undefined): Record<string, string> =>
  Object.fromEntries((env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));

function pluginsTxtEntries(text: string): Array<{ name: string; version: string }> {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean)
    .map((l) => ({ name: l.split(':')[0], version: l.split(':')[1] }));
}

async function buildTeamImage(context: Map<string, string> = files, tag: string = team.image): Promise<void> {
  const pack = tarPack();
  for (const [name, content] of context) pack.entry({ name, mode: 0o644 }, content);
  pack.finalize();
  // dockerd runs without a bridge here: the build's RUN containers use the host network.
  const stream = await docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: tag, networkmode: 'host', rm: true, forcerm: true });
  const events = await new Promise<Array<{ stream?: string; error?: string }>>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, out: Array<{ stream?: string; error?: string }>) => (err ? reject(err) : resolve(out))),
  );
  const failed = events.find((e) => e.error);
  if (failed) throw new Error(`docker build of ${tag} failed: ${failed.error}\n${events.map((e) => e.stream ?? '').join('')}`);
}

/** Reads files out of an image through a created (never started) container. */
async function readFromImage(paths: string[]): Promise<Map<string, string>> {
  const c = await docker.createContainer({ Image: team.image, name: `jsm-h6-read-${randomBytes(4).toString('hex')}`, Labels: { 'io.jsm.test': 'team-image' } });
  const out = new Map<string, string>();
  try {
    for (const p of paths) {
      const archive = await c.getArchive({ path: p });
      await new Promise<void>((resolve, reject) => {
        const ex = tarExtract();
        ex.on('entry', (header, body, next) => {
          const chunks: Buffer[] = [];
          body.on('data', (d: unknown) => chunks.push(d as Buffer));
          body.on('end', () => {
            if (header.type === 'file') out.set(`${p.replace(/[^/]+$/, '')}${header.name}`.replace(/\/+/g, '/'), Buffer.concat(chunks).toString('utf8'));
            next();
          });
        });
        ex.on('finish', resolve);
        ex.on('error', reject);
        archive.pipe(ex);
      });
    }
  } finally {
    await c.remove({ force: true });
  }
  return out;
}

beforeAll(async () => {
  const base = await ensureStandinBaseImage(docker);
  const name = `img${randomBytes(4).toString('hex')}`;
  dir = mkdtempSync(join(tmpdir(), `jsm-${name}-`));
  token = randomBytes(12).toString('hex');
  writeFileSync(join(dir, 'jenkins-token'), `${token}\n`, { mode: 0o600 });
  const yaml = [
    'jenkins_teams:',
    `  - team_name: ${name}`,
    '    self_management_enabled: true',
    `    web_port: ${await freeBlueGreenPort()}`,
    `    agent_port: ${await freeBlueGreenPort()}`,
    `    jenkins_user: ${TEST_JENKINS_USER}`,
    `    jenkins_token_file: ${join(dir, 'jenkins-token')}`,
    `    jenkins_base_image: ${base}`,
    '    plugins:',
    '      job-dsl: "1.87"',
    '      timestamper: latest',
    '    shared_library:',
    '      scm_url: https://git.example.com/jenkins/jsm-library.git',
  ].join('\n');
  const parsed = parseTeamsDocument(yaml, 'team-image.yml');
  if (parsed.errors.length) throw new Error(parsed.errors.join('\n'));
  team = parsed.teams[0];
  files = new Map(renderTeamFiles(team).map((f) => [f.path.split('/').pop() as string, f.content]));
  await buildTeamImage();
  imageId = (await docker.getImage(team.image).inspect()).Id;
  db = await createTestDatabase('teamimage');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-team-image' });
  deps = { docker, environments: store.environments, jenkinsFor: teamJenkinsClientFactory(), networking: { mode: 'host' }, journal: store.journal };
}, 120_000);

afterAll(async () => {
  if (team) await removeTeamAndImages(docker, team.team_name, [team.image]);
  await store?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the generated Dockerfile builds: plugins go through jenkins-plugin-cli, jenkins.yaml is baked in and CASC_JENKINS_CONFIG points at it, the wizard is off', async () => {
  const info = await docker.getImage(team.image).inspect();
  const env = envOf(info.Config.Env);
  expect(env.CASC_JENKINS_CONFIG).toBe('/usr/share/jenkins/casc/jenkins.yaml');
  expect(env.JAVA_OPTS).toBe('-Djenkins.install.runSetupWizard=false');
  expect(info.Config.Labels).toMatchObject({ 'io.jenkins-selfmanage.team': team.team_name });

  const inImage = await readFromImage(['/usr/share/jenkins/casc/jenkins.yaml', '/usr/share/jenkins/casc/seedJob.groovy', '/usr/share/jenkins/ref/plugins.txt', PLUGIN_CLI_LOG]);
  expect(inImage.get('/usr/share/jenkins/casc/jenkins.yaml')).toBe(files.get('jenkins.yaml'));
  expect(inImage.get('/usr/share/jenkins/casc/seedJob.groovy')).toBe(files.get('seedJob.groovy'));
  expect(inImage.get('/usr/share/jenkins/ref/plugins.txt')).toBe(files.get('plugins.txt'));
  const calls = JSON.parse(inImage.get(PLUGIN_CLI_LOG) ?? '[]') as Array<{ args: string[]; plugins: Array<{ name: string; version: string }> }>;
  expect(calls).toHaveLength(1);
  expect(calls[0].args).toEqual(['--plugin-file', '/usr/share/jenkins/ref/plugins.txt']);
  const wanted = pluginsTxtEntries(files.get('plugins.txt') ?? '');
  expect(calls[0].plugins).toEqual(wanted);
  expect(wanted).toEqual(expect.arrayContaining([{ name: 'job-dsl', version: '1.87' }, { name: 'timestamper', version: '1.30' }, { name: 'configuration-as-code', version: '2117.vc05a_0b_e6b_f4e' }]));
}, 120_000);

test('the RUN line really installs: a malformed plugins.txt fails the image build', async () => {
  const broken = new Map(files);
  broken.set('plugins.txt', `${files.get('plugins.txt')}not a plugin line\n`);
  const tag = `${team.image.split(':')[0]}-broken:latest`;
  try {
    await expect(buildTeamImage(broken, tag)).rejects.toThrow(/cannot parse plugin "not a plugin line"/);
  } finally {
    await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  }
}, 120_000);

test('environment.deploy runs the one image as blue and as green: same image id, CASC_JENKINS_CONFIG, own JENKINS_ENVIRONMENT, plugins of plugins.txt', async () => {
  const blue = await deployEnvironment(deps, team, { target: 'blue', timeoutSec: 60, replace: true });
  const green = await deployEnvironment(deps, team, { target: 'green', timeoutSec: 60, replace: true });
  expect([blue.healthy, green.healthy]).toEqual([true, true]);
  const wanted = pluginsTxtEntries(files.get('plugins.txt') ?? '').sort((a, b) => a.name.localeCompare(b.name));
  for (const env of ['blue', 'green'] as const) {
    const info = await docker.getContainer(team.environments[env].container).inspect();
    expect(info.Image).toBe(imageId);
    expect(envOf(info.Config.Env)).toMatchObject({
      CASC_JENKINS_CONFIG: '/usr/share/jenkins/casc/jenkins.yaml',
      JENKINS_ENVIRONMENT: env,
      JENKINS_TEAM: team.team_name,
      JENKINS_OPTS: `--httpPort=${team.environments[env].web_port}`,
    });
    await standinControl(team, env, { users: [{ name: TEST_JENKINS_USER, token }] });
    const plugins = await deps.jenkinsFor(team, env).plugins();
    expect(plugins.map((p) => ({ name: p.shortName, version: p.version })).sort((a, b) => a.name.localeCompare(b.name))).toEqual(wanted);
  }
}, 120_000);

/** Flattens an inspect object to path -> JSON value; env and labels keyed by name so order does not matter. */
function flatten(value: unknown, path: string, out: Map<string, string>): void {
  if (path === 'Config.Env' && Array.isArray(value)) {
    for (const [k, v] of Object.entries(envOf(value as string[]))) out.set(`Config.Env.${k}`, JSON.stringify(v));
    return;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) out.set(path, JSON.stringify(value));
    for (const [k, v] of entries) flatten(v, `${path}.${k}`, out);
    return;
  }
  out.set(path, JSON.stringify(value));
}

test('blue and green differ in nothing but run-time settings (env, ports, volume, environment label)', async () => {
  const [blue, green] = await Promise.all(['blue', 'green'].map((env) => docker.getContainer(team.environments[env as 'blue' | 'green'].container).inspect()));
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  for (const [info, map] of [
    [blue, a],
    [green, b],
  ] as const) {
    flatten(info.Config, 'Config', map);
    flatten(info.HostConfig, 'HostConfig', map);
    map.set('Image', JSON.stringify(info.Image));
  }
  const differing = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).sort();
  expect(differing).toEqual(
    [
      'Config.Env.JENKINS_ENVIRONMENT',
      'Config.Env.JENKINS_OPTS',
      'Config.Env.JENKINS_SLAVE_AGENT_PORT',
      'Config.Labels.io.jenkins-selfmanage.environment',
      'HostConfig.Mounts.0.Source',
    ].sort(),
  );
  expect(b.get('Config.Env.JENKINS_OPTS')).toBe(JSON.stringify(`--httpPort=${team.web_port + 100}`));
  expect(b.get('Config.Env.JENKINS_SLAVE_AGENT_PORT')).toBe(JSON.stringify(String(team.agent_port + 100)));
  expect(b.get('HostConfig.Mounts.0.Source')).toBe(JSON.stringify(`jenkins-${team.team_name}-green-home`));
}, 120_000);

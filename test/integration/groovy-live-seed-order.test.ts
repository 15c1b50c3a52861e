import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { listSelectedEntries } from '../../agent/src/docker/archive';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment } from '../../agent/src/environments/deploy';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, standinControl, type TestTeam } from '../support/docker-teams';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { startLoad } from '../support/haproxy-load';
import { SIDECARCTL_BIN, startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { httpGet, RpcClient } from '../support/sidecar-process-rpc';
import { ensureStandinImage } from '../support/standin-image';
import { byName, generate, REPO_ROOT, runScenarios, type ScenarioResult } from '../groovy/harness-runner';

/**
 * The seed's Pipeline A, verbatim (switch first, migrate after), on real
 * Groovy 2.4 against a live jenkins-sidecar, real HAProxy, PostgreSQL, Docker
 * (stand-in Jenkins containers) and ansible-playbook, under bounded loopback
 * load for the whole build. The generated progressiveTrafficSwitch asks the
 * switch to bring green up to date while green has no traffic (syncTarget), so
 * the migration after the switch has nothing to reload on the side that then
 * serves everyone: not one failed request.
 *
 * This build runs on blue the whole time (blue serves when it starts): blue
 * shows it on an executor, as Jenkins does, and its log on blue grows while it
 * runs; the sync must not wait for it, and no migration may copy (or reload
 * for) its half-written directory.
 * The seed's 5 x 60 s validation makes this a six-minute test.
 */
jest.setTimeout(120_000);
const docker = new Docker();
const root = mkdtempSync(join(tmpdir(), 'jsm-groovy-seed-order-'));
const BUILD = { job: 'Infrastructure/Self-Managed-Blue-Green-Switch', number: 1 };
let t: TestTeam;
let team: Team;
let db: TestDatabase;
let store: PgStore | undefined;
let hp: HaproxyProcess;
let sc: SidecarProcess;
let rpc: RpcClient | undefined;
let a: ScenarioResult;
let totals: { requests: number; non2xx: number; errors: number };
const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";
const FOLDER = "<?xml version='1.1' encoding='UTF-8'?>\n<com.cloudbees.hudson.plugins.folder.Folder plugin=\"cloudbees-folder\"/>\n";
const logWriter = { stop: false, writes: 0 };

/** Where Jenkins keeps a build of a job in folders: jobs/<a>/jobs/<b>/builds/<n>. */
const buildDir = (job: string, n: number): string => `jobs/${job.split('/').join('/jobs/')}/builds/${n}`;

/** This build's log on blue grows while it runs, as a real build's does (Run.getLogFile: builds/<n>/log); one write a second, at most 600. */
async function writeBuildLog(job: string): Promise<void> {
  let text = 'Started by user admin\n';
  for (let i = 0; i < 600 && !logWriter.stop; i++) {
    text += `[Pipeline] line ${i}\n`;
    const pack = tarPack();
    pack.entry({ name: `${buildDir(job, BUILD.number)}/log` }, text);
    pack.finalize();
    await docker.getContainer(team.environments.blue.container).putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });
    logWriter.writes += 1;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

beforeAll(async () => {
  await ensureStandinImage(docker);
  t = await makeTestTeam({ prefix: 'so' });
  const teamsYaml = `${readFileSync(t.teamsFile, 'utf8').trimEnd()}\n    active_environment: blue\n    blue_green_enabled: true\n    self_management_enabled: true\n`;
  const parsed = parseTeamsDocument(teamsYaml, 'teams.yml');
  if (parsed.errors.length) throw new Error(parsed.errors.join('\n'));
  team = parsed.teams[0]!;

  db = await createTestDatabase('groovyseedorder');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-seed-order' });
  const jenkinsFor = teamJenkinsClientFactory();
  for (const env of ['blue', 'green'] as const) {
    await deployEnvironment({ docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } }, team, { target: env, timeoutSec: 60, replace: true });
    await seedServiceUser(t, env);
  }
  await store.close();
  store = undefined;
  // Blue's jobs, which green must hold before it gets traffic, and this build's own job.
  const blue = jenkinsFor(team, 'blue');
  await blue.createJob('app', PIPELINE);
  const job = `${team.team_name}/${BUILD.job}`;
  for (const folder of [team.team_name, `${team.team_name}/Infrastructure`]) await blue.createJob(folder, FOLDER);
  await blue.createJob(job, PIPELINE);
  // This build on blue as Jenkins shows a running Pipeline: its top-level run on a one-off executor, its node block on an executor, both with the run's URL.
  await standinControl(team, 'blue', { builds: [{ job, number: BUILD.number, oneOff: true }, { job, number: BUILD.number }] });

  hp = await startHaproxy(parsed.teams);
  sc = await startSidecarProcess({ databaseUrl: db.url, tokens: [{ id: 'ci', teams: [team.team_name] }], teamsYaml, env: { SIDECAR_HAPROXY_SOCKET: hp.socketPath } });
  rpc = await RpcClient.connect(sc.rpcUrl, sc.secrets['ci']!);
  generate(teamsYaml, join(root, 'out'));
  const sidecarctl = join(root, 'sidecarctl');
  writeFileSync(sidecarctl, `#!/bin/sh\nexec "${process.execPath}" "${SIDECARCTL_BIN}" "$@"\n`);
  chmodSync(sidecarctl, 0o755);

  // 20 requests a second through haproxy for the whole build, bounded to 9 minutes (the build takes about 6).
  const load = startLoad(hp.httpPort, { connections: 2, rate: 20, maxSeconds: 560, path: '/login' });
  const writing = writeBuildLog(job);
  try {
    const results = byName(
      await runScenarios(
        join(root, 'out', 'library'),
        [
          {
            name: 'A',
            file: join(REPO_ROOT, 'test', 'fixtures', 'seed-pipeline-a.Jenkinsfile'),
            params: { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' },
            env: {
              JOB_NAME: job,
              BUILD_NUMBER: String(BUILD.number),
              JENKINS_URL: `http://127.0.0.1:${hp.httpPort}/`,
              SIDECARCTL: sidecarctl,
              SIDECAR_URL: sc.rpcUrl,
              PATH: process.env.PATH ?? '/usr/bin:/bin',
            },
            credentials: { 'sidecar-token': sc.secrets['ci']! },
            shTimeoutSec: 450,
          },
        ],
        join(root, 'work'),
        480_000,
      ),
    );
    a = results.get('A')!;
    // What went wrong, in the build's own words.
    if (a.result !== 'SUCCESS') process.stdout.write(`seed Pipeline A ended ${a.result}: ${a.error}\n${a.console.slice(-60).join('\n')}\n`);
  } finally {
    logWriter.stop = true;
    await writing;
    totals = await load.stop();
    process.stdout.write(`seed Pipeline A under load: ${totals.requests} requests, ${totals.non2xx} non-2xx, ${totals.errors} errors\n`);
  }
}, 660_000);

afterAll(async () => {
  rpc?.ws.close();
  await sc?.stop();
  await hp?.stop();
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
  rmSync(root, { recursive: true, force: true });
});

const stage = (name: string) => a.stages.find((x) => x.name === name);

interface OperationRecord {
  id: string;
  type: string;
  status: string;
  result?: Record<string, unknown> | null;
}

/** The team's operations of one type, each with its journal record (result included). */
async function operations(type: string): Promise<OperationRecord[]> {
  const body = JSON.parse((await httpGet(`${sc.httpUrl}/api/v1/operations?team=${team.team_name}`, { Authorization: `Bearer ${sc.secrets['ci']}` })).body) as unknown;
  const list = (Array.isArray(body) ? body : (body as { operations: unknown[] }).operations) as OperationRecord[];
  const out: OperationRecord[] = [];
  for (const o of list.filter((x) => x.type === type)) {
    const m = await rpc!.call('operation.get', { operationId: o.id });
    if (m.error) throw new Error(`operation.get: ${JSON.stringify(m.error)}`);
    out.push(m.result as OperationRecord);
  }
  return out;
}

describe("seed Pipeline A, verbatim, switch then migrate under load", () => {
  it('succeeds in every stage, with not one failed request through haproxy', () => {
    expect(a.result).toBe('SUCCESS');
    for (const name of ['Pre-Switch Coordination', 'Infrastructure State Lock', 'Deploy Target Environment', 'Progressive Traffic Switch', 'State Migration & Validation']) {
      expect(stage(name)).toEqual({ name, status: 'success' });
    }
    expect(totals.requests).toBeGreaterThan(2000);
    expect(totals.non2xx).toBe(0);
    expect(totals.errors).toBe(0);
  });

  it('brought green up to date before it had traffic, without waiting for this build on blue', async () => {
    const [sw] = await operations('traffic.switch');
    expect(sw).toMatchObject({ status: 'succeeded', result: { status: 'promoted', synced: { synced: true } } });
    const synced = sw!.result!.synced as { reloaded: boolean; restarted: boolean };
    expect(synced.reloaded || synced.restarted).toBe(true);
    const text = a.console.join('\n');
    // The drain saw only this build on blue, which is excepted: blue was idle at once, and no wait line names anything running.
    expect(text).toContain(`bringing ${team.team_name}/green up to date with ${team.team_name}/blue while it has no traffic`);
    expect(text).toContain(`${team.team_name}/blue is idle after`);
    expect(text).not.toMatch(/waiting for .* to go idle/);
  });

  it("the migration after the switch found green holding everything: not reloaded", async () => {
    const migrations = await operations('state.migrate');
    expect(migrations).toHaveLength(1);
    expect(migrations[0]).toMatchObject({ status: 'succeeded', result: { reloaded: false, jobNames: expect.arrayContaining(['app']) } });
    expect(a.console.join('\n')).toContain(`${team.team_name}/green already held everything ${team.team_name}/blue has: not reloaded`);
    // This build's log was written on blue throughout; its directory stayed on blue, where the build ends.
    expect(logWriter.writes).toBeGreaterThan(10);
    const dir = buildDir(`${team.team_name}/${BUILD.job}`, BUILD.number);
    const inDir = (rel: string): boolean => rel === dir || rel.startsWith(`${dir}/`);
    const listed = async (env: 'blue' | 'green'): Promise<string[]> =>
      (await listSelectedEntries(await docker.getContainer(team.environments[env].container).getArchive({ path: '/var/jenkins_home' }), 'jenkins_home', inDir)).map((e) => e.path);
    expect(await listed('blue')).toContain(`${dir}/log`);
    expect(await listed('green')).toEqual([]);
  });
});

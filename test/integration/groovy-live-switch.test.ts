import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment } from '../../agent/src/environments/deploy';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, standinControl, type TestTeam } from '../support/docker-teams';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { startLoad, type LoadRun } from '../support/haproxy-load';
import { SIDECARCTL_BIN, startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { httpGet, RpcClient } from '../support/sidecar-process-rpc';
import { ensureStandinImage } from '../support/standin-image';
import { byName, generate, REPO_ROOT, runScenarios, type ScenarioResult } from '../groovy/harness-runner';

/**
 * Issue 5 acceptance: the seed's Pipeline A, verbatim, on real Groovy 2.4
 * against a live jenkins-sidecar, real HAProxy, real PostgreSQL, real Docker
 * (stand-in Jenkins containers) and real ansible-playbook. The deploy stage
 * really deploys green; green then answers 503 (stand-in control endpoint) the
 * moment HAProxy gives it weight, so the switch's first 5% window breaches, the
 * sidecar rolls back, the pipeline fails and post { failure } runs the
 * emergency rollback to blue.
 */
jest.setTimeout(90_000);
const docker = new Docker();
const root = mkdtempSync(join(tmpdir(), 'jsm-groovy-live-switch-'));
let t: TestTeam;
let team: Team;
let db: TestDatabase;
let store: PgStore | undefined;
let hp: HaproxyProcess;
let sc: SidecarProcess;
let rpc: RpcClient | undefined;
let load: LoadRun | undefined;
let a: ScenarioResult;
const faultWatch = { stop: false, injectedAtWeight: -1, error: '' };
let watchDone: Promise<void> = Promise.resolve();

/** Makes green answer 503 (and fail its health check) as soon as HAProxy gives it any weight. Bounded to 150 s. */
async function breakGreenWhenItTakesWeight(): Promise<void> {
  const deadline = Date.now() + 150_000;
  while (!faultWatch.stop && Date.now() < deadline) {
    try {
      const green = (await hp.runtime.showStat()).find((s) => s.backend === team.haproxy_backend && s.server === team.environments.green.server);
      if (green && green.weight > 0) {
        faultWatch.injectedAtWeight = green.weight;
        await standinControl(team, 'green', { unhealthy: true });
        return;
      }
    } catch (err) {
      faultWatch.error = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  await ensureStandinImage(docker);
  t = await makeTestTeam({ prefix: 'sw' });
  const teamsYaml = `${readFileSync(t.teamsFile, 'utf8').trimEnd()}\n    active_environment: blue\n    blue_green_enabled: true\n    self_management_enabled: true\n`;
  const parsed = parseTeamsDocument(teamsYaml, 'teams.yml');
  if (parsed.errors.length) throw new Error(parsed.errors.join('\n'));
  team = parsed.teams[0]!;

  // Blue and green run before haproxy starts (it waits for every server UP); the service user lives in each home volume, which redeploys keep.
  db = await createTestDatabase('groovyswitch');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-live-switch' });
  const jenkinsFor = teamJenkinsClientFactory();
  for (const env of ['blue', 'green'] as const) {
    await deployEnvironment({ docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } }, team, { target: env, timeoutSec: 60, replace: true });
    await seedServiceUser(t, env);
  }
  await store.close();
  store = undefined;

  hp = await startHaproxy(parsed.teams);
  sc = await startSidecarProcess({ databaseUrl: db.url, tokens: [{ id: 'ci', teams: [team.team_name] }], teamsYaml, env: { SIDECAR_HAPROXY_SOCKET: hp.socketPath } });
  rpc = await RpcClient.connect(sc.rpcUrl, sc.secrets['ci']!);
  generate(teamsYaml, join(root, 'out'));
  const sidecarctl = join(root, 'sidecarctl');
  writeFileSync(sidecarctl, `#!/bin/sh\nexec "${process.execPath}" "${SIDECARCTL_BIN}" "$@"\n`);
  chmodSync(sidecarctl, 0o755);

  // A few requests a second through haproxy (the only team is its default backend), so the windows have traffic.
  // The switch first brings green up to date (a migration while green has no traffic): the bounds leave room for it.
  load = startLoad(hp.httpPort, { connections: 2, rate: 10, maxSeconds: 150, path: '/login' });
  watchDone = breakGreenWhenItTakesWeight();
  const results = byName(
    await runScenarios(
      join(root, 'out', 'library'),
      [
        {
          name: 'A',
          file: join(REPO_ROOT, 'test', 'fixtures', 'seed-pipeline-a.Jenkinsfile'),
          params: { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' },
          env: {
            JOB_NAME: `${team.team_name}/Infrastructure/Self-Managed-Blue-Green-Switch`,
            BUILD_NUMBER: '1',
            JENKINS_URL: `http://127.0.0.1:${hp.httpPort}/`,
            SIDECARCTL: sidecarctl,
            SIDECAR_URL: sc.rpcUrl,
            PATH: process.env.PATH ?? '/usr/bin:/bin',
          },
          credentials: { 'sidecar-token': sc.secrets['ci']! },
        },
      ],
      join(root, 'work'),
    ),
  );
  faultWatch.stop = true;
  await watchDone;
  a = results.get('A')!;
}, 180_000);

afterAll(async () => {
  faultWatch.stop = true;
  await watchDone.catch(() => undefined);
  await load?.stop().catch(() => undefined);
  rpc?.ws.close();
  await sc?.stop();
  await hp?.stop();
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
  rmSync(root, { recursive: true, force: true });
});

const stage = (name: string) => a.stages.find((x) => x.name === name);
const result = async <T>(method: string, params: Record<string, unknown>): Promise<T> => {
  const m = await rpc!.call(method, params);
  if (m.error) throw new Error(`${method}: ${JSON.stringify(m.error)}`);
  return m.result as T;
};

describe('seed Pipeline A, verbatim, whose switch breaches against live services', () => {
  it('deploys green for real, the switch breaches in its first 5% window, and post failure rolls back to blue', () => {
    expect(faultWatch).toMatchObject({ injectedAtWeight: expect.any(Number) });
    expect(faultWatch.injectedAtWeight).toBeGreaterThan(0);
    expect(a.result).toBe('FAILURE');
    expect(stage('Pre-Switch Coordination')?.status).toBe('success');
    expect(stage('Infrastructure State Lock')?.status).toBe('success');
    expect(stage('Deploy Target Environment')?.status).toBe('success');
    expect(stage('Progressive Traffic Switch')).toMatchObject({ status: 'failed', error: expect.stringMatching(/^progressiveTrafficSwitch: SLI_BREACH: .*5%/) });
    expect(stage('State Migration & Validation')?.status).toBe('skipped (earlier failure)');
    expect(stage('post always')).toEqual({ name: 'post always', status: 'success' });
    expect(stage('post failure')).toEqual({ name: 'post failure', status: 'success' });
    const text = a.console.join('\n');
    expect(text).toContain('SLI_BREACH');
    expect(text).toMatch(new RegExp(`releaseInfrastructureLock: released ${team.team_name}:blue_green_switch`));
    expect(text).toMatch(/getPreviousEnvironment: blue/);
    expect(text).toMatch(/sidecarctl: error data: .*"steps":\[\{"percent":5,[^\]]*"verdict":"breach"[^\]]*\]/);
    expect(text).toMatch(new RegExp(`executeEmergencyRollback: rollback.emergency for team ${team.team_name}`));
    expect(text).toMatch(new RegExp(`emergency rollback: all ${team.team_name} traffic on blue`));
    expect(text).not.toContain(sc.secrets['ci']);
  });

  it('ended the first window on its first bad samples, not after the 60 s validation time', async () => {
    const ops = JSON.parse((await httpGet(`${sc.httpUrl}/api/v1/operations?team=${team.team_name}`, { Authorization: `Bearer ${sc.secrets['ci']}` })).body) as unknown;
    const list = (Array.isArray(ops) ? ops : (ops as { operations: unknown[] }).operations) as Array<{ type: string; status: string; error?: { code: string; data?: { figures?: { durationMs: number } } } }>;
    const sw = list.filter((o) => o.type === 'traffic.switch');
    expect(sw).toHaveLength(1);
    expect(sw[0]).toMatchObject({ status: 'rolled_back', error: { code: 'SLI_BREACH' } });
    expect(sw[0]!.error!.data!.figures!.durationMs).toBeLessThan(60_000);
  });

  it('left no lock, recorded the coordination state, and gave blue all the weight', async () => {
    expect((await result<{ locks: unknown[] }>('lock.list', { team: team.team_name })).locks).toEqual([]);
    const status = await result<{ active: string; weights: { blue: number; green: number } }>('environment.status', { team: team.team_name });
    expect(status).toMatchObject({ active: 'blue', weights: { blue: 100, green: 0 } });
    const stats = (await hp.runtime.showStat()).filter((s) => s.backend === team.haproxy_backend);
    expect(Object.fromEntries(stats.map((s) => [s.server, s.weight]))).toEqual({ [team.environments.blue.server]: expect.any(Number), [team.environments.green.server]: 0 });
    expect(stats.find((s) => s.server === team.environments.blue.server)!.weight).toBeGreaterThan(0);
    const { audit } = JSON.parse((await httpGet(`${sc.httpUrl}/api/v1/audit?team=${team.team_name}`, { Authorization: `Bearer ${sc.secrets['ci']}` })).body) as { audit: Array<Record<string, unknown>> };
    const recorded = audit.filter((e) => (e.metadata as { via?: string } | undefined)?.via === 'coordination.update');
    expect(recorded).toEqual([
      expect.objectContaining({ operationType: 'blue_green_switch', targetEnvironment: 'green', status: 'FAILURE', initiatedBy: `${team.team_name}/Infrastructure/Self-Managed-Blue-Green-Switch#1` }),
    ]);
  });
});

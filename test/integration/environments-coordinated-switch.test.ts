import { request } from 'node:http';
import Docker from 'dockerode';
import { coordinationExecuteParams } from '../../catalog/methods/environment';
import type { Team } from '../../catalog/teams-file';
import { executeCoordinated, type CoordinatedDeps } from '../../agent/src/environments/coordinated-rollout';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment } from '../../agent/src/environments/deploy';
import type { SidecarError } from '../../agent/src/sidecar-error';
import { OperationRunner } from '../../agent/src/operations/runner';
import { createPgStore, type PgStore } from '../../agent/src/store';
import type { Actor } from '../../agent/src/store/contract';
import { InFlightSwitches } from '../../agent/src/traffic/in-flight';
import { trafficDeps } from '../../agent/src/traffic/switch';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, type TestTeam } from '../support/docker-teams';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { startLoad } from '../support/haproxy-load';
import { ensureStandinImage, STANDIN_VERSIONS, standinImageNames } from '../support/standin-image';

/**
 * Issue 4 acceptance: coordination.execute's version_upgrade end to end through
 * a real haproxy (config from renderHaproxyConfig), the real HAProxy Runtime
 * API driver, the Postgres store, the operation runner and stand-in Jenkins
 * containers of tags 1 and 2. Team `up` upgrades blue(1) → green(2) with
 * traffic moved progressively under bounded load; team `bad` has a required
 * agent its fresh green lacks, so validation fails and blue keeps everything.
 */
jest.setTimeout(120_000);
const docker = new Docker();
const jenkinsFor = teamJenkinsClientFactory();
const inFlight = new InFlightSwitches();
let db: TestDatabase;
let store: PgStore;
let runner: OperationRunner;
let hap: HaproxyProcess | undefined;
let up: TestTeam;
let bad: TestTeam;
let deps: CoordinatedDeps;

const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";
const REQUIRED_AGENT = 'linux-build';

const actorFor = (team: string): Actor => ({ tokenId: 'ops', build: `${team}/Infrastructure/Infrastructure-Coordination#3`, instanceId: 'coord-switch-test' });

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('coordsw');
  store = await createPgStore({ connectionString: db.url, instanceId: 'coord-switch-test' });
  runner = new OperationRunner({ journal: store.journal, clock: { now: () => new Date() } });
  up = await makeTestTeam({ prefix: 'cup' });
  bad = await makeTestTeam({ prefix: 'cbad', requiredAgents: [REQUIRED_AGENT] });
  const envDeps = { docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' as const } };
  // Both sides run tag 1 (haproxy starts only once every server is UP); green is idle (weight 0) and gets replaced by the rollout.
  await Promise.all(
    [up, bad].flatMap((t) => (['blue', 'green'] as const).map((env) => deployEnvironment(envDeps, t.team, { target: env, image: standinImageNames().v1, timeoutSec: 60, replace: true }))),
  );
  for (const t of [up, bad]) {
    await seedServiceUser(t, 'blue');
    await jenkinsFor(t.team, 'blue').createJob('app', PIPELINE);
  }
  // Blue of the failing team has the agent the team requires; a freshly deployed green does not.
  const control = await fetch(`${bad.team.environments.blue.url}/_standin/control`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ agents: [{ name: REQUIRED_AGENT, offline: false }] }) });
  expect(control.ok).toBe(true);
  hap = await startHaproxy([up.team, bad.team], { defaultTeam: up.team.team_name });
  const traffic = trafficDeps({ store, haproxy: hap.runtime, teamConfig: (name) => [up.team, bad.team].find((t) => t.team_name === name), inFlight });
  deps = { docker, store, jenkinsFor, networking: { mode: 'host' }, traffic, journal: store.journal };
});

afterAll(async () => {
  await runner?.drain(5000);
  await hap?.stop();
  await up?.cleanup(docker);
  await bad?.cleanup(docker);
  await store?.close();
  await db?.drop();
});

async function serverStats(team: Team): Promise<Record<'blue' | 'green', { weight: number; status: string }>> {
  const stats = (await hap!.runtime.showStat()).filter((s) => s.backend === team.haproxy_backend);
  const pick = (env: 'blue' | 'green'): { weight: number; status: string } => {
    const s = stats.find((x) => x.server === team.environments[env].server);
    if (!s) throw new Error(`no ${team.environments[env].server} in show stat`);
    return { weight: s.weight, status: s.status };
  };
  return { blue: pick('blue'), green: pick('green') };
}

/** The X-Jenkins version haproxy's answer came from, for the team picked by the Host header (as haproxy routes it). */
function versionThroughHaproxy(team: Team): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: hap!.httpPort, path: '/login', headers: { Host: team.team_name }, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers['x-jenkins'] as string | undefined));
    });
    req.on('timeout', () => req.destroy(new Error('haproxy did not answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** As Pipeline B does: hold the operation's lock (withInfrastructureLock name: OPERATION_TYPE) around coordinatedExecution. */
async function coordinated(t: TestTeam, raw: Record<string, unknown>, phases: string[]): Promise<{ operationId: string; result?: unknown; error?: SidecarError }> {
  const team = t.team.team_name;
  const actor = actorFor(team);
  const owner = actor.build!;
  const lock = await store.locks.acquire({ team, operation: 'version_upgrade', ttlSec: 300, waitSec: 0, owner, actor });
  try {
    const params = coordinationExecuteParams.parse({ team, ...raw });
    let operationId = '';
    try {
      const out = await runner.run(
        { type: 'coordination.execute', team, params, actor, onProgress: (e) => phases.push(`${e.phase}: ${e.message}`), beginExtras: { exclusive: `environments:${team}` } },
        (ctx) => {
          operationId = ctx.operation.id;
          return executeCoordinated(deps, [t.team], params, ctx);
        },
      );
      return { operationId: out.operationId, result: out.result };
    } catch (err) {
      return { operationId, error: err as SidecarError };
    }
  } finally {
    // The pipeline's lock is still its own while the sidecar worked (nobody fenced it).
    expect((await store.locks.list({ team })).map((l) => l.lockName)).toEqual([`${team}:version_upgrade`]);
    await store.locks.release({ team, operation: 'version_upgrade', token: lock.token, owner, actor });
  }
}

test('version_upgrade 1 → 2 with switching: green runs tag 2 and takes all traffic through haproxy, blue is drained to maint', async () => {
  const team = up.team.team_name;
  expect(await serverStats(up.team)).toMatchObject({ blue: { weight: 100, status: 'UP' }, green: { weight: 0 } });
  const phases: string[] = [];
  // Bounded load through haproxy (default backend: this team) so each SLI window has samples.
  const load = startLoad(hap!.httpPort, { connections: 4, rate: 300, maxSeconds: 60, path: '/login' });
  let out: Awaited<ReturnType<typeof coordinated>>;
  try {
    out = await coordinated(up, { operation: 'version_upgrade', details: { image: standinImageNames().v2 }, timeoutSec: 60, validationSec: 2 }, phases);
  } finally {
    const totals = await load.stop();
    process.stdout.write(`version_upgrade under load: ${totals.requests} requests, ${totals.non2xx} non-2xx, ${totals.errors} errors\n`);
    expect(totals.requests).toBeGreaterThan(100);
    // Hitless: the replaced green was out of rotation (weight 0) while it restarted.
    expect(totals.non2xx).toBe(0);
    expect(totals.errors).toBe(0);
  }
  if (out.error) throw out.error;
  expect(out.result).toMatchObject({
    operation: 'version_upgrade',
    status: 'succeeded',
    outcomes: [{ team, status: 'succeeded', from: 'blue', to: 'green', image: standinImageNames().v2, jobs: 1, validated: true, switched: true }],
  });
  // Green's container runs tag 2; blue's still tag 1.
  expect((await docker.getContainer(up.team.environments.green.container).inspect()).Config.Image).toBe(standinImageNames().v2);
  expect((await docker.getContainer(up.team.environments.blue.container).inspect()).Config.Image).toBe(standinImageNames().v1);
  // HAProxy: green all the weight, blue in maint after its drain.
  expect(await serverStats(up.team)).toEqual({ blue: { weight: 0, status: 'MAINT' }, green: { weight: 100, status: 'UP' } });
  for (let i = 0; i < 5; i++) expect(await versionThroughHaproxy(up.team)).toBe(STANDIN_VERSIONS['2']);
  expect(await store.environments.get(team)).toMatchObject({ active: 'green', previous: 'blue', lastKnownGood: 'green', weights: { blue: 0, green: 100 } });
  expect(phases.map((p) => p.split(':')[0])).toEqual(expect.arrayContaining(['deploy', 'migrate', 'switch', 'step-5', 'step-100', 'drain']));
  // Journal: one operation carries every stage, the switch's weight changes among them, in order.
  const op = await store.journal.get(out.operationId);
  expect(op).toMatchObject({ type: 'coordination.execute', status: 'succeeded' });
  const names = op!.steps.map((s) => s.name);
  expect(op!.steps.every((s) => s.outcome === 'done')).toBe(true);
  expect(names.filter((n) => n === 'weights')).toHaveLength(5);
  for (const [a, b] of [['start_container', 'copy_configuration'], ['copy_configuration', 'validate'], ['weights', 'drain-old'], ['drain-old', 'promote']]) {
    expect(names.indexOf(a)).toBeGreaterThanOrEqual(0);
    expect(names.indexOf(a)).toBeLessThan(names.lastIndexOf(b));
  }
  // Audit: the switch inside the rollout, promoted, tied to the rollout's operation and the calling build, each window with samples.
  const audit = await store.audit.list({ team, operationType: 'traffic.switch' });
  expect(audit).toHaveLength(1);
  expect(audit[0]).toMatchObject({ team, sourceEnvironment: 'blue', targetEnvironment: 'green', status: 'promoted', operationId: out.operationId, initiatedBy: actorFor(team).build });
  const steps = (audit[0].metadata as { steps: Array<{ percent: number; verdict: string; figures: { requests: number } }> }).steps;
  expect(steps.map((s) => [s.percent, s.verdict])).toEqual([[5, 'pass'], [10, 'pass'], [25, 'pass'], [50, 'pass'], [100, 'pass']]);
  expect(steps.every((s) => s.figures.requests >= 20)).toBe(true);
  // The rollout's own switch lock is released.
  expect(await store.locks.list({ team })).toEqual([]);
});

test('a green that fails validation: the operation fails naming the failed check, blue keeps all traffic and its executors', async () => {
  const team = bad.team.team_name;
  const phases: string[] = [];
  const out = await coordinated(bad, { operation: 'version_upgrade', details: { image: standinImageNames().v2 }, timeoutSec: 60, validationSec: 2 }, phases);
  expect(out.error).toBeDefined();
  const err = out.error!;
  expect(err.code).toBe('CONFLICT');
  expect(err.reason).toBe('target_not_ready');
  expect(err.message).toContain('failed validation');
  expect(err.message).toContain('agent_connectivity');
  expect(err.message).toContain(REQUIRED_AGENT);
  expect(err.data).toMatchObject({ outcomes: [{ team, status: 'failed', from: 'blue', to: 'green', validated: false, error: { code: 'CONFLICT' } }] });
  expect((err.data as { outcomes: Array<{ switched?: boolean }> }).outcomes[0].switched).toBeUndefined();
  // Nobody used green between its migration and the refusal: nothing of its stays behind, and the outcome says so.
  expect(err.data).toMatchObject({ outcomes: [{ stayedBehind: { changed: [], removed: [], files: 0, bytes: 0 } }] });
  // Nothing moved: HAProxy and the stored state keep blue at 100.
  expect(await serverStats(bad.team)).toMatchObject({ blue: { weight: 100, status: 'UP' }, green: { weight: 0 } });
  expect(await store.environments.get(team)).toMatchObject({ active: 'blue', weights: { blue: 100, green: 0 } });
  for (let i = 0; i < 5; i++) expect(await versionThroughHaproxy(bad.team)).toBe(STANDIN_VERSIONS['1']);
  // The validated-but-refused green does run the new tag: the failure is in the check, not the deploy.
  expect((await docker.getContainer(bad.team.environments.green.container).inspect()).Config.Image).toBe(standinImageNames().v2);
  // Blue's quiet-down (from the migration) is cancelled.
  expect((await jenkinsFor(bad.team, 'blue').root()).quietingDown).toBe(false);
  expect(phases.some((p) => p.startsWith('switch'))).toBe(false);
  const op = (await store.journal.list({ team, limit: 20 })).find((o) => o.type === 'coordination.execute');
  expect(op).toMatchObject({ status: 'failed' });
  expect(JSON.stringify(op)).toContain('agent_connectivity');
  expect(await store.locks.list({ team })).toEqual([]);
});

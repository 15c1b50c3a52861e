import Docker from 'dockerode';
import { RpcConnection, type RpcReply } from '../../agent/src/rpc/client';
import type { MethodResult } from '../../catalog/methods/method-spec';
import type { trafficPlan } from '../../catalog/methods/traffic-plan';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { standinControl, type TestTeam } from '../support/docker-teams';
import type { HaproxyProcess } from '../support/haproxy-process';
import { startTestSidecar, type InProcessSidecar } from '../support/sidecar-harness';
import { runSidecarctl } from '../support/sidecar-process';
import { startSwitchFixture, type SwitchFixture } from '../support/switch-fixture';

/**
 * traffic.plan through the real transport (in-process sidecar, JSON-RPC over WebSocket,
 * SIDECAR_CHECK_RESULTS=1) against stand-in controllers in Docker behind a real haproxy:
 * blue runs a Pipeline build (a one-off executor, as Jenkins runs a Pipeline's top-level
 * run), green's container is stopped. The plan says both, and changes nothing: no journal
 * operation, one audit row (the plan request), the same weights (HAProxy and desired),
 * lock and breaker. Then sidecarctl prints the same plan for a person.
 */
jest.setTimeout(150_000);
const docker = new Docker();
let fixture: SwitchFixture | undefined;
let t: TestTeam;
let hap: HaproxyProcess;
let sc: InProcessSidecar;
let rpc: RpcConnection;
let team: string;
type Plan = MethodResult<typeof trafficPlan>;

const ok = (r: RpcReply): Record<string, unknown> => {
  if (!r.ok) throw new Error(`RPC error ${r.error.code} ${String(r.error.data?.code)}: ${r.error.message}`);
  return r.result as Record<string, unknown>;
};

/** Polls (bounded) until HAProxy's health checks call green's server something other than UP. */
async function untilGreenNotUp(timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await hap.runtime.showStat()).find((x) => x.backend === t.team.haproxy_backend && x.server === t.team.environments.green.server);
    if (s && !s.status.startsWith('UP')) return s.status;
    if (Date.now() > deadline) throw new Error(`green still ${s?.status ?? 'missing'} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  // Blue and green deployed with the sidecar's service user, haproxy in front; then the sidecar on the same database.
  fixture = await startSwitchFixture(docker, teamJenkinsClientFactory(), { name: 'plan', prefix: 'pl', instanceId: 'plan-fixture' });
  ({ t, hap } = fixture);
  team = t.team.team_name;
  sc = await startTestSidecar({ databaseUrl: fixture.db.url, tokens: [{ id: 'ci', teams: [team] }], env: { SIDECAR_TEAMS_FILE: t.teamsFile, SIDECAR_HAPROXY_SOCKET: hap.socketPath, SIDECAR_CHECK_RESULTS: '1' } });
  rpc = await RpcConnection.open(sc.handle.rpcUrl, sc.secrets.ci);
});

afterAll(async () => {
  rpc?.ws.close();
  await sc?.stop();
  await fixture?.stop();
});

/** Everything a plan must leave as it found it. */
async function snapshot() {
  const { store } = sc.handle;
  const stats = await hap.runtime.showStat();
  return {
    operations: (await store.journal.list({ team, limit: 1000 })).map((o) => `${o.id}:${o.status}:${o.phase}`),
    weights: stats.filter((s) => s.backend === t.team.haproxy_backend).map((s) => `${s.server}=${s.weight}`),
    desired: await store.environments.get(team),
    locks: (await store.locks.list({ team })).map((l) => ({ ...l, expiresAt: l.expiresAt.toISOString() })),
    breaker: await store.breakers.status(`infrastructure_modification:${team}`),
  };
}

test('a team with a build running on blue and green stopped: the plan says both and changes nothing but its one audit row', async () => {
  // A Pipeline's top-level run holds a one-off executor (jenkins-rest-notes.md: computer/api/json).
  await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 7, oneOff: true }] });
  await docker.getContainer(t.team.environments.green.container).stop({ t: 2 });
  const greenStatus = await untilGreenNotUp();
  const lock = ok(await rpc.call('lock.acquire', { team, operation: 'blue_green_switch', ttlSec: 600, owner: 'plan/test#1' }));
  const lockToken = lock.token as number;

  const before = await snapshot();
  const auditBefore = await sc.handle.store.audit.list({ team, limit: 1000 });
  const plan = ok(await rpc.call('traffic.plan', { team, target: 'green', lockToken, increments: [25, { percent: 50, approve: true }, 100], validationSec: 30, drainTimeoutSec: 20 })) as unknown as Plan;
  const after = await snapshot();
  const auditAfter = await sc.handle.store.audit.list({ team, limit: 1000 });

  expect(plan).toMatchObject({ team, from: 'blue', to: 'green', wouldStart: false, alreadyActive: false });
  expect(plan.blockers.map((b) => b.check)).toEqual(['target']);
  expect(plan.blockers[0]!.detail).toContain(`${t.team.environments.green.server} is ${greenStatus}`);
  expect(plan.blockers[0]!.detail).toContain(`${t.team.environments.green.container} is exited`);
  expect(plan.warnings).toEqual(expect.arrayContaining([{ check: 'builds', detail: expect.stringContaining('builds running on blue: app#7') }, { check: 'gates', detail: expect.stringContaining('before 50%') }]));
  expect(plan.sides.blue).toMatchObject({ role: 'source', container: { state: 'running' }, jenkins: { answered: true, running: ['app#7'], queued: [] }, haproxy: { status: 'UP', weight: 100 } });
  expect(plan.sides.green).toMatchObject({ role: 'target', container: { state: 'exited' }, jenkins: { answered: false }, haproxy: { status: greenStatus, weight: 0 } });
  expect(plan.prepareTarget).toMatchObject({ action: 'refuse', waitUpToSec: 30 });
  expect(plan.fence).toMatchObject({ lock: `${team}:blue_green_switch`, grant: { token: lockToken, holder: 'plan/test#1' }, isHolder: true });
  expect(plan.breaker).toMatchObject({ state: 'closed', wouldAdmit: 'yes' });
  expect(plan.steps.map((s) => [s.percent, s.gate, s.weights])).toEqual([
    [25, false, { blue: 75, green: 25 }],
    [50, true, { blue: 50, green: 50 }],
    [100, false, { blue: 0, green: 100 }],
  ]);
  expect(plan.steps[0]!.windowSec).toEqual({ min: 30, max: 90 });
  expect(plan.steps[0]!.judgedBy[0]).toMatch(/^error_rate > 2% /);
  // A gate waits for a person: no upper bound.
  expect(plan.durationSec).toEqual({ min: 90, max: null });
  expect(plan.rollback.weights).toEqual({ blue: 100, green: 0 });

  // Changed nothing: journal, weights (HAProxy and desired), lock, breaker.
  expect(after).toEqual(before);
  // The audit trail has the plan request, and only it.
  const fresh = auditAfter.filter((a) => !auditBefore.some((b) => b.id === a.id));
  expect(fresh).toEqual([expect.objectContaining({ operationType: 'traffic.plan', team, status: 'SUCCESS', initiatedBy: 'ci', targetEnvironment: 'green', metadata: expect.objectContaining({ wouldStart: false, blockers: ['target'] }) })]);
});

test('sidecarctl plan prints it for a person and exits 1 while a blocker stands; switch --dry-run --json answers the same plan', async () => {
  const env = { SIDECAR_URL: sc.handle.rpcUrl, SIDECAR_TOKEN: sc.secrets.ci };
  const text = await runSidecarctl(['plan', '--team', team, '--target', 'green', '--params', '{"increments":[50,100],"validationSec":10}'], env);
  process.stdout.write(`sidecarctl plan:\n${text.stdout}`);
  expect(text.stderr).toBe('');
  expect(text.code).toBe(1);
  expect(text.stdout).toMatch(new RegExp(`^Plan: ${team} blue -> green \\(.+\\): WOULD NOT START \\(1 blocker\\)`));
  expect(text.stdout).toContain(`  x target: ${t.team.environments.green.server} is `);
  expect(text.stdout).toContain('  ! builds: builds running on blue: app#7');
  expect(text.stdout).toContain('   50%  blue 50 / green 50  window 10s-30s');
  expect(text.stdout).toMatch(/Duration: 20s at least, \d+m\d*s? at most/);

  const json = await runSidecarctl(['switch', '--dry-run', '--json', '--team', team, '--target', 'green'], env);
  expect(json.code).toBe(1);
  const plan = JSON.parse(json.stdout) as Plan;
  expect(plan).toMatchObject({ wouldStart: false, blockers: [{ check: 'target' }] });
  expect(plan.steps.map((s) => s.percent)).toEqual([5, 10, 25, 50, 100]);
});

test('with green back UP the plan would start; a token that is not the live grant is a fence blocker; still nothing changes', async () => {
  await docker.getContainer(t.team.environments.green.container).start();
  const deadline = Date.now() + 90_000;
  for (;;) {
    const s = (await hap.runtime.showStat()).find((x) => x.backend === t.team.haproxy_backend && x.server === t.team.environments.green.server);
    if (s?.status === 'UP') break;
    if (Date.now() > deadline) throw new Error(`green did not come back UP (${s?.status ?? 'missing'})`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const grant = (await sc.handle.store.locks.list({ team })).find((l) => l.lockName === `${team}:blue_green_switch`)!;
  const before = await snapshot();
  const plan = ok(await rpc.call('traffic.plan', { team, target: 'green', lockToken: grant.token, increments: [50, 100], validationSec: 5 })) as unknown as Plan;
  expect(plan).toMatchObject({ wouldStart: true, blockers: [], prepareTarget: { action: 'none' }, fence: { isHolder: true } });
  expect(plan.sides.green).toMatchObject({ container: { state: 'running' }, haproxy: { status: 'UP' }, jenkins: { answered: true, running: [] } });
  expect(plan.warnings.map((w) => w.check)).toEqual(['builds']);

  const stale = ok(await rpc.call('traffic.plan', { team, target: 'green', lockToken: grant.token + 1 })) as unknown as Plan;
  expect(stale).toMatchObject({ wouldStart: false, fence: { isHolder: false }, blockers: [{ check: 'fence', detail: expect.stringContaining(`token ${grant.token + 1} is not the live grant`) }] });
  expect(await snapshot()).toEqual(before);
});

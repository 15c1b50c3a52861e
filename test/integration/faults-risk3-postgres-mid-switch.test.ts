import { eventually } from '../support/eventually';
import { httpGet, type RpcClient, type RpcMessage } from '../support/sidecar-process-rpc';
import type { SidecarProcess } from '../support/sidecar-process';
import { operationEnded, startTrafficStack, type OwnPostgres, type TrafficStack } from '../support/traffic-stack';
import type { Team } from '../../catalog/teams-file';

/**
 * Risk 3 (the coordination database goes away during a switch) against real
 * processes: its own embedded PostgreSQL (stopped and started on the same
 * port and data), a real HAProxy and a jenkins-sidecar process. Asserted: the
 * switch answers at once with DEPENDENCY_DOWN and its rollback moves all
 * traffic back to blue in HAProxy DURING the outage (moving toward the last
 * known good side needs no database); /readyz says PostgreSQL is down; no new
 * operation starts during the outage; once the database is back the owed
 * records are written without a restart (operation rolled_back, desired
 * weights blue 100, in sync), the reconcile loop never re-applies the stale
 * 50/50, and a new switch is then allowed.
 */
jest.setTimeout(60_000);

let stack: TrafficStack;
let pg: OwnPostgres;
let team: Team;
let sc: SidecarProcess;
let c: RpcClient;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  stack = await startTrafficStack({ prefix: 'r3', database: 'own', sidecarEnv: { SIDECAR_HEARTBEAT_SEC: '1' } });
  pg = stack.postgres!;
  team = stack.team;
  sc = stack.sidecars[0]!;
  c = stack.clients[0]!;
});

afterAll(async () => {
  await stack?.stop();
});

it('Postgres stops with traffic half-moved: the rollback puts all traffic on blue during the outage, and the records follow once the database is back, without a restart', async () => {
  const lock = await c.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 120, owner: 'r3/switch#1' });
  expect(lock.error).toBeUndefined();
  const token = (lock.result as { token: number }).token;
  const answerP = c.call('traffic.switch', { team: team.team_name, target: 'green', increments: [50, 100], validationSec: 30, minSamples: 0, drainTimeoutSec: 1, sampleIntervalMs: 200, lockToken: token }, 40_000);
  await eventually('step-50 applied', async () => (c.notifications.some((n) => n.params?.phase === 'step-50' && n.params?.weights) ? true : null), 15_000);
  const half = await stack.weights();
  expect(half.blue).toBeGreaterThan(0);
  expect(half.green).toBeGreaterThan(0);

  await pg.stop();
  const answer: RpcMessage = await answerP;
  expect(answer.result).toBeUndefined();
  expect(answer.error?.data).toMatchObject({ code: 'DEPENDENCY_DOWN', operationStatus: 'rolled_back', recordsDeferred: true });
  expect(answer.error?.message).toContain('moved back to blue');
  const operationId = String(answer.error?.data?.operationId);
  // Traffic is wholly on blue while Postgres is still down.
  const safe = await eventually('all traffic on blue during the outage', async () => {
    const w = await stack.weights();
    return w.green === 0 && w.blue > 0 ? w : null;
  }, 3_000);
  const ready = await eventually('/readyz reports PostgreSQL down', async () => {
    const r = await httpGet(`${sc.httpUrl}/readyz`);
    return r.status === 503 ? r : null;
  }, 10_000);
  expect(ready.body.toLowerCase()).toContain('postgres');
  // No new operation starts during the outage (an error answer, bounded).
  const during = await c.call('traffic.switch', { team: team.team_name, target: 'blue', increments: [100], validationSec: 1, minSamples: 0, lockToken: token }, 30_000);
  expect(during.result).toBeUndefined();
  expect(during.error?.data?.code).toBe('DEPENDENCY_DOWN');
  expect(await stack.weights()).toEqual(safe);

  await pg.start(); // the same port and data
  await eventually('/readyz ready again', async () => {
    const r = await httpGet(`${sc.httpUrl}/readyz`);
    return r.status === 200 ? r : null;
  }, 15_000);
  // The same process writes what it owes: the operation ends rolled_back, no restart needed.
  const op = await operationEnded(c, operationId, 20_000);
  expect(op.status).toBe('rolled_back');
  const status = await eventually('desired weights blue 100 in Postgres', async () => {
    const r = (await c.call('environment.status', { team: team.team_name })).result as { weights: { blue: number; green: number } } | undefined;
    return r && r.weights.green === 0 ? r : null;
  }, 10_000);
  expect(status).toMatchObject({ active: 'blue', operation: null, weights: safe });
  // Two reconcile periods later HAProxy still holds the safety move (the stale 50/50 was never re-applied).
  await sleep(4_500);
  expect(await stack.weights()).toEqual(safe);
  expect((await c.call('traffic.status', { team: team.team_name })).result).toMatchObject({ inSync: true });

  // A new switch is allowed again (retried while the pool settles after the outage).
  const next = await eventually('a settled answer to a new switch', async () => {
    const r = await c.call('traffic.switch', { team: team.team_name, target: 'green', increments: [100], validationSec: 1, minSamples: 0, drainTimeoutSec: 1, sampleIntervalMs: 200, lockToken: token }, 30_000);
    return r.error?.code === -32603 || r.error?.data?.code === 'DEPENDENCY_DOWN' ? null : r;
  }, 40_000);
  expect(next.error).toBeUndefined();
  expect(next.result).toMatchObject({ status: 'promoted', to: 'green' });
  expect((await c.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token })).result).toEqual({ released: true });
  expect((await c.call('lock.list', { team: team.team_name })).result).toEqual({ locks: [] });
});

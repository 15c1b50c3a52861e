import { httpGet, type RpcClient, type RpcMessage } from '../support/sidecar-process-rpc';
import type { SidecarProcess } from '../support/sidecar-process';
import { startTrafficStack, type TrafficStack } from '../support/traffic-stack';
import type { Team } from '../../catalog/teams-file';

/**
 * Risk 1 (split brain during deployment) against real processes: two
 * jenkins-sidecar processes on one database and one real HAProxy. Two
 * traffic.switch calls for the same team start at the same moment, one
 * through each sidecar: exactly one runs, the other is refused; traffic ends
 * wholly on one side, environment_state agrees with HAProxy, no lock stays
 * held, and the audit trail says what happened.
 */
jest.setTimeout(60_000);

let stack: TrafficStack;
let team: Team;
let procs: SidecarProcess[];
let clients: RpcClient[];
let SECRET: string;
const REFUSED = ['LOCK_HELD', 'FENCED', 'CONFLICT'];

beforeAll(async () => {
  stack = await startTrafficStack({ prefix: 'r1', sidecars: 2 });
  ({ team, sidecars: procs, clients, secret: SECRET } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

const switchParams = (target: 'blue' | 'green', lockToken: number) => ({
  team: team.team_name,
  target,
  increments: [50, 100],
  validationSec: 1,
  minSamples: 0,
  drainTimeoutSec: 1,
  sampleIntervalMs: 200,
  lockToken,
});

interface AuditEntry {
  operationType: string;
  status: string;
  team: string | null;
  operationId?: string | null;
}

async function audit(): Promise<AuditEntry[]> {
  const r = await httpGet(`${procs[0]!.httpUrl}/api/v1/audit?team=${team.team_name}&limit=200`, { Authorization: `Bearer ${SECRET}` });
  expect(r.status).toBe(200);
  return (JSON.parse(r.body) as { audit: AuditEntry[] }).audit;
}

/** The end state every case must reach: traffic wholly on `side`, state and HAProxy agree, nothing running, no lock held. */
async function expectSettledOn(side: 'blue' | 'green'): Promise<void> {
  const other = side === 'blue' ? 'green' : 'blue';
  const live = await stack.weights();
  expect(live[other]).toBe(0);
  expect(live[side]).toBeGreaterThan(0);
  for (const c of clients) {
    const status = await c.call('environment.status', { team: team.team_name });
    expect(status.result).toMatchObject({ active: side, operation: null, weights: { [side]: live[side], [other]: 0 } });
    const traffic = await c.call('traffic.status', { team: team.team_name });
    expect(traffic.result).toMatchObject({ inSync: true, desired: { [side]: live[side], [other]: 0 } });
  }
  const locks = await clients[1]!.call('lock.list', { team: team.team_name });
  expect((locks.result as { locks: unknown[] }).locks).toEqual([]);
}

it('two switches with the same lock token started at once through two sidecars: one runs to the end, the other is refused', async () => {
  const lock = await clients[0]!.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 120, owner: 'r1/switch#1' });
  expect(lock.error).toBeUndefined();
  const token = (lock.result as { token: number }).token;

  const answers: RpcMessage[] = await Promise.all(clients.map((c) => c.call('traffic.switch', switchParams('green', token), 40_000)));
  const won = answers.filter((a) => a.result !== undefined);
  const refused = answers.filter((a) => a.error !== undefined);
  expect(won).toHaveLength(1);
  expect(refused).toHaveLength(1);
  expect(won[0]!.result).toMatchObject({ status: 'promoted', to: 'green' });
  expect(REFUSED).toContain(refused[0]!.error!.data?.code);

  const released = await clients[0]!.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token });
  expect(released.result).toEqual({ released: true });
  await expectSettledOn('green');

  const entries = (await audit()).filter((e) => e.operationType === 'traffic.switch');
  expect(entries.some((e) => e.status === 'promoted')).toBe(true);
  // The refused call is audited too (by the dispatcher), with an outcome that is not success.
  expect(entries.length).toBeGreaterThanOrEqual(2);
  expect(entries.filter((e) => e.status === 'promoted')).toHaveLength(1);
});

it('two builds racing for the switch lock through two sidecars: one holds it, the loser cannot switch with a guessed token', async () => {
  const acquired = await Promise.all(
    clients.map((c, i) => c.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 120, owner: `r1/switch#race-${i}` })),
  );
  const holders = acquired.filter((a) => a.result !== undefined);
  const losers = acquired.filter((a) => a.error !== undefined);
  expect(holders).toHaveLength(1);
  expect(losers).toHaveLength(1);
  expect(losers[0]!.error!.data?.code).toBe('LOCK_HELD');
  const token = (holders[0]!.result as { token: number }).token;
  const winner = clients[acquired.indexOf(holders[0]!)]!;
  const loser = clients[acquired.indexOf(losers[0]!)]!;

  // The loser tries anyway, with a stale and a future token, at the same moment as the holder's switch back to blue.
  const [ok, stale, future] = await Promise.all([
    winner.call('traffic.switch', switchParams('blue', token), 40_000),
    loser.call('traffic.switch', switchParams('blue', token - 1), 40_000),
    loser.call('traffic.switch', switchParams('blue', token + 1), 40_000),
  ]);
  expect(ok.result).toMatchObject({ status: 'promoted', to: 'blue' });
  expect(REFUSED).toContain(stale.error?.data?.code);
  expect(REFUSED).toContain(future.error?.data?.code);

  expect((await winner.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token })).result).toEqual({ released: true });
  await expectSettledOn('blue');
  const promoted = (await audit()).filter((e) => e.operationType === 'traffic.switch' && e.status === 'promoted');
  expect(promoted).toHaveLength(2);
});

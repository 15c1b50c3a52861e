import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { RpcClient, upgradeStatus } from '../support/sidecar-process-rpc';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';

/**
 * Per-token limits of a real sidecar: open connections (HTTP 429 on the
 * upgrade), calls in flight (CONFLICT naming the limit), frame size (the
 * socket is closed with 1009). One token at its limit does not affect another.
 */
const TEAM = `lim-${randomBytes(3).toString('hex')}`;
const MAX_CONN = 3;
const MAX_IN_FLIGHT = 2;
const MAX_PAYLOAD = 64 * 1024;

// jest.config.js's per-project testTimeout is not applied by jest (it is a global option): set it here.
jest.setTimeout(60_000);

let db: TestDatabase;
let sc: SidecarProcess;

beforeAll(async () => {
  db = await createTestDatabase('limits');
  sc = await startSidecarProcess({
    databaseUrl: db.url,
    tokens: [
      { id: 'ops', teams: ['*'] },
      { id: 'team-ci', teams: [TEAM] },
    ],
    env: {
      SIDECAR_MAX_CONNECTIONS_PER_TOKEN: String(MAX_CONN),
      SIDECAR_MAX_IN_FLIGHT_PER_TOKEN: String(MAX_IN_FLIGHT),
      SIDECAR_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD),
    },
  });
});

afterAll(async () => {
  await sc?.stop();
  await db?.drop();
});

it('refuses the connection over the per-token limit with 429 and frees the slot when one closes', async () => {
  const open: RpcClient[] = [];
  try {
    for (let i = 0; i < MAX_CONN; i++) open.push(await RpcClient.connect(sc.rpcUrl, sc.secrets['team-ci']!));
    const over = await upgradeStatus(sc.rpcUrl, sc.secrets['team-ci']!);
    expect(over.status).toBe(429);
    expect(over.body).toMatch(new RegExp(`limit ${MAX_CONN}`));
    // Another token is not affected.
    expect((await upgradeStatus(sc.rpcUrl, sc.secrets['ops']!)).status).toBe(101);
    // The refused attempts did not take a slot; the open ones still answer.
    const alive = await open[0]!.call('rpc.discover', {});
    expect(alive.result).toBeDefined();
    await open.pop()!.close();
    // The close is seen by the server shortly after; bounded retry.
    let status = 0;
    for (let i = 0; i < 50 && status !== 101; i++) {
      status = (await upgradeStatus(sc.rpcUrl, sc.secrets['team-ci']!)).status;
      if (status !== 101) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(101);
  } finally {
    await Promise.all(open.map((c) => c.close()));
  }
});

it('answers CONFLICT for a call over the in-flight limit, without touching the others, and recovers', async () => {
  const ops = await RpcClient.connect(sc.rpcUrl, sc.secrets['ops']!);
  const team = await RpcClient.connect(sc.rpcUrl, sc.secrets['team-ci']!);
  try {
    const held = await ops.call('lock.acquire', { team: TEAM, operation: 'busy', ttlSec: 60, owner: 'holder' });
    expect(held.error).toBeUndefined();
    // Two waiters fill the team token's in-flight budget (each waits up to 4 s for the lock).
    const waiters = [0, 1].map((i) => team.call('lock.acquire', { team: TEAM, operation: 'busy', ttlSec: 30, waitSec: 4, owner: `waiter-${i}` }, 20_000));
    const over = await team.call('lock.list', { team: TEAM });
    expect(over.error).toMatchObject({ code: -32000, data: { code: 'CONFLICT', reason: 'in_flight_limit', limit: MAX_IN_FLIGHT } });
    expect(over.error!.message).toMatch(/in flight/);
    // The ops token has its own budget.
    const opsList = await ops.call('lock.list', { team: TEAM });
    expect(opsList.error).toBeUndefined();

    // Releasing the lock lets one waiter in; the other gives up with LOCK_HELD when its wait ends.
    const rel = await ops.call('lock.release', { team: TEAM, operation: 'busy', owner: 'holder' });
    expect(rel.result).toEqual({ released: true });
    const outcomes = await Promise.all(waiters);
    const granted = outcomes.filter((o) => o.result);
    const refused = outcomes.filter((o) => o.error);
    expect(granted).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.error).toMatchObject({ data: { code: 'LOCK_HELD' } });

    // Budget is back: calls from the team token go through again.
    const after = await team.call('lock.list', { team: TEAM });
    expect(after.error).toBeUndefined();
    expect((after.result as { locks: unknown[] }).locks).toHaveLength(1);
  } finally {
    await ops.close();
    await team.close();
  }
});

it('closes a socket that sends a frame over the payload limit (1009) and stays up for others', async () => {
  const c = await RpcClient.connect(sc.rpcUrl, sc.secrets['ops']!);
  const closed = new Promise<number>((r) => c.ws.once('close', (code) => r(code)));
  c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'lock.list', params: { team: 'x'.repeat(MAX_PAYLOAD * 2) } }));
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([closed, new Promise<number>((_, fail) => (timer = setTimeout(() => fail(new Error('socket not closed within 10 s')), 10_000)))]);
  clearTimeout(timer);
  expect(code).toBe(1009);
  const next = await RpcClient.connect(sc.rpcUrl, sc.secrets['ops']!);
  try {
    expect((await next.call('rpc.discover', {})).result).toBeDefined();
  } finally {
    await next.close();
  }
  expect(sc.exited()).toBe(false);
});

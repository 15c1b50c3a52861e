import { request } from 'node:http';
import WebSocket from 'ws';
import { RpcConnection } from '../../agent/src/rpc/client';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startTestSidecar, type InProcessSidecar } from '../support/sidecar-harness';

/** The JSON-RPC transport against a real sidecar (in-process) on a real PostgreSQL. */
let db: TestDatabase;
let sc: InProcessSidecar;
const open: RpcConnection[] = [];

async function connect(tokenId: string): Promise<RpcConnection> {
  const c = await RpcConnection.open(sc.handle.rpcUrl, sc.secrets[tokenId]!);
  open.push(c);
  return c;
}

/** The raw HTTP answer to an upgrade request (what happens BEFORE any WebSocket exists). */
function upgradeStatus(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${sc.handle.httpUrl}${path}`, {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  db = await createTestDatabase('rpc');
  sc = await startTestSidecar({
    databaseUrl: db.url,
    tokens: [
      { id: 'ops', teams: ['*'] },
      { id: 'devops-ci', teams: ['devops'] },
      { id: 'limited', teams: ['payments'] },
    ],
    env: { SIDECAR_MAX_PAYLOAD_BYTES: '4096', SIDECAR_MAX_CONNECTIONS_PER_TOKEN: '3', SIDECAR_MAX_IN_FLIGHT_PER_TOKEN: '3' },
  });
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await sc?.stop();
  await db?.drop();
});

describe('authentication on the upgrade request', () => {
  it('answers HTTP 401 before upgrading when the token is missing or wrong', async () => {
    const none = await upgradeStatus('/rpc', {});
    expect(none.status).toBe(401);
    expect(none.body).toMatch(/missing Authorization: Bearer <token> header/);
    const wrong = await upgradeStatus('/rpc', { Authorization: `Bearer ${'z'.repeat(40)}` });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatch(/unknown token/);
  });

  it('refuses a token in the query string even when it is valid', async () => {
    const r = await upgradeStatus(`/rpc?token=${sc.secrets.ops}`, {});
    expect(r.status).toBe(401);
    expect(r.body).toMatch(/a token in the query string \(token=\) ends up in logs/);
    const withHeader = await upgradeStatus(`/rpc?access_token=x`, { Authorization: `Bearer ${sc.secrets.ops}` });
    expect(withHeader.status).toBe(401);
  });

  it('upgrades with a valid bearer token', async () => {
    const r = await upgradeStatus('/rpc', { Authorization: `Bearer ${sc.secrets.ops}` });
    expect(r.status).toBe(101);
  });

  it('limits connections per token with HTTP 429', async () => {
    await connect('limited');
    await connect('limited');
    await connect('limited');
    await expect(RpcConnection.open(sc.handle.rpcUrl, sc.secrets.limited!)).rejects.toMatchObject({ statusCode: 429 });
  });
  it('limits calls in flight per token with CONFLICT', async () => {
    const c = await connect('limited');
    expect((await c.call('lock.acquire', { team: 'payments', operation: 'in_flight', ttlSec: 30, owner: 'holder' })).ok).toBe(true);
    const waiting = [1, 2, 3].map((n) => c.call('lock.acquire', { team: 'payments', operation: 'in_flight', waitSec: 2, owner: `waiter-${n}` }));
    // The three waits are in flight once the sidecar has them; a fourth call is refused at once.
    await new Promise((r) => setTimeout(r, 300));
    const over = await c.call('lock.list', {});
    expect(!over.ok && over.error.data).toMatchObject({ code: 'CONFLICT', reason: 'in_flight_limit' });
    expect(!over.ok && over.error.message).toBe('token limited already has 3 calls in flight (limit 3); wait for one to finish');
    const results = await Promise.all(waiting);
    expect(results.every((r) => !r.ok && r.error.data?.code === 'LOCK_HELD')).toBe(true);
    expect((await c.call('lock.release', { team: 'payments', operation: 'in_flight', owner: 'holder' })).ok).toBe(true);
  });
});

describe('JSON-RPC errors', () => {
  it('-32700 for malformed JSON', async () => {
    const c = await connect('ops');
    const r = await c.raw('{"jsonrpc":"2.0","id":1,"method":');
    expect(r).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
  });

  it('-32600 for a request that is not JSON-RPC 2.0', async () => {
    const c = await connect('ops');
    expect(await c.raw('{"id":3,"method":"lock.list"}')).toMatchObject({ id: 3, error: { code: -32600 } });
  });

  it('-32601 for an unknown method', async () => {
    const c = await connect('ops');
    const r = await c.call('lock.steal', {});
    expect(r).toEqual({ ok: false, error: { code: -32601, message: 'method lock.steal not found; rpc.discover lists the methods this sidecar serves' } });
  });

  it('-32602 naming the field for bad params', async () => {
    const c = await connect('ops');
    const r = await c.call('lock.acquire', { team: 'devops', operation: 'blue_green_switch', ttlSec: 'ten' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe(-32602);
      expect(r.error.data?.issues).toEqual([{ field: 'ttlSec', message: 'Invalid input: expected number, received string', code: 'invalid_type' }]);
    }
    const key = await c.call('lock.acquire', { team: 'devops', operation: 'x', idempotencyKey: 'has spaces' });
    expect(!key.ok && key.error.message).toMatch(/^invalid params: idempotencyKey: /);
  });

  it('-32602 naming operation / owner when they exceed the store columns; the longest accepted values work', async () => {
    const c = await connect('ops');
    const longOp = await c.call('lock.acquire', { team: 'devops', operation: 'o'.repeat(51) });
    expect(!longOp.ok && longOp.error.code).toBe(-32602);
    expect(!longOp.ok && longOp.error.data?.issues).toEqual([expect.objectContaining({ field: 'operation', message: 'expected 1-50 characters of [A-Za-z0-9_.-]' })]);
    const longOwner = await c.call('lock.acquire', { team: 'devops', operation: 'limits_check', owner: 'w'.repeat(256) });
    expect(!longOwner.ok && longOwner.error.code).toBe(-32602);
    expect(!longOwner.ok && longOwner.error.data?.issues).toEqual([expect.objectContaining({ field: 'owner', message: 'expected 1-255 printable characters' })]);
    const releaseLong = await c.call('lock.release', { team: 'devops', operation: 'o'.repeat(51) });
    expect(!releaseLong.ok && releaseLong.error.code).toBe(-32602);
    // At the limits the store takes them (no internal error).
    const atLimit = await c.call('lock.acquire', { team: 'devops', operation: 'o'.repeat(50), owner: 'w'.repeat(255), ttlSec: 30 });
    expect(atLimit).toMatchObject({ ok: true, result: { lockName: `devops:${'o'.repeat(50)}`, holder: 'w'.repeat(255) } });
    expect(await c.call('lock.release', { team: 'devops', operation: 'o'.repeat(50), owner: 'w'.repeat(255) })).toEqual({ ok: true, result: { released: true } });
  });

  it('FORBIDDEN (-32000) when a team token acts on another team', async () => {
    const c = await connect('devops-ci');
    const r = await c.call('lock.acquire', { team: 'payments', operation: 'blue_green_switch' });
    expect(r).toEqual({
      ok: false,
      error: {
        code: -32000,
        message: "token devops-ci may act on team(s) devops, not payments; use that team's token (Jenkins credential sidecar-token)",
        data: { code: 'FORBIDDEN', tokenId: 'devops-ci', team: 'payments' },
      },
    });
  });

  it('closes the socket (1009) on a message over maxPayload', async () => {
    const c = await connect('ops');
    const closed = new Promise<number>((r) => c.ws.once('close', (code) => r(code)));
    c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'lock.list', params: { pad: 'x'.repeat(10_000) } }));
    expect(await closed).toBe(1009);
  });
});

describe('methods over the wire', () => {
  it('acquires, lists and releases a lock; a team token sees only its team', async () => {
    const ops = await connect('ops');
    const devops = await connect('devops-ci');
    const got = await devops.call('lock.acquire', { team: 'devops', operation: 'blue_green_switch', ttlSec: 60, build: 'devops/Infrastructure/Switch#7' });
    expect(got).toMatchObject({ ok: true, result: { lockName: 'devops:blue_green_switch', holder: 'devops-ci' } });
    const other = await ops.call('lock.acquire', { team: 'payments', operation: 'blue_green_switch', ttlSec: 60, owner: 'ops-person' });
    expect(other.ok).toBe(true);
    const seen = await devops.call('lock.list', {});
    expect(seen.ok && (seen.result as { locks: Array<{ lockName: string }> }).locks.map((l) => l.lockName)).toEqual(['devops:blue_green_switch']);
    const all = await ops.call('lock.list', {});
    expect(all.ok && (all.result as { locks: unknown[] }).locks.length).toBe(2);
    const token = got.ok ? (got.result as { token: number }).token : 0;
    expect(await devops.call('lock.release', { team: 'devops', operation: 'blue_green_switch', token })).toEqual({ ok: true, result: { released: true } });
    expect(await devops.call('lock.release', { team: 'devops', operation: 'blue_green_switch' })).toEqual({ ok: true, result: { released: false } });
    expect(await ops.call('lock.release', { team: 'payments', operation: 'blue_green_switch', owner: 'ops-person' })).toEqual({ ok: true, result: { released: true } });
  });

  it('audits a mutating call with the token id and the build', async () => {
    const audit = await sc.handle.store.audit.list({ team: 'devops', operationType: 'lock.acquire' });
    expect(audit[0]).toMatchObject({
      initiatedBy: 'devops/Infrastructure/Switch#7',
      status: 'SUCCESS',
      metadata: { tokenId: 'devops-ci', build: 'devops/Infrastructure/Switch#7' },
    });
  });

  it('re-attaches to the same operation for the same idempotencyKey', async () => {
    const c = await connect('devops-ci');
    const key = `switch-lock-${Date.now()}`;
    const first = await c.call('lock.acquire', { team: 'devops', operation: 'idem_test', ttlSec: 60, idempotencyKey: key });
    const second = await c.call('lock.acquire', { team: 'devops', operation: 'idem_test', ttlSec: 60, idempotencyKey: key });
    expect(first.ok).toBe(true);
    expect(second).toEqual(first); // the same grant, not LOCK_HELD against ourselves, not a second token
    const ops = (await sc.handle.store.journal.list({ team: 'devops', limit: 100 })).filter((o) => o.idempotencyKey === `team:devops/${key}`);
    expect(ops).toHaveLength(1);
  });

  it('streams progress with the operationId before the result, and two concurrent calls with one key share one operation', async () => {
    const a = await connect('devops-ci');
    const b = await connect('devops-ci');
    const key = `consensus-${Date.now()}`;
    // Either call may be the one that starts the operation; the other attaches and
    // sees only what happens after it attached. Together they saw every phase.
    const progressA: Array<Record<string, unknown>> = [];
    const progressB: Array<Record<string, unknown>> = [];
    const [ra, rb] = await Promise.all([
      a.call('consensus.request', { team: 'devops', operation: 'blue_green_switch', target: 'green', timeoutSec: 20, idempotencyKey: key }, (p) => progressA.push(p)),
      b.call('consensus.request', { team: 'devops', operation: 'blue_green_switch', target: 'green', timeoutSec: 20, idempotencyKey: key }, (p) => progressB.push(p)),
    ]);
    expect(ra.ok && rb.ok).toBe(true);
    expect(rb).toEqual(ra);
    expect(ra).toMatchObject({ ok: true, result: { approved: true, quorum: 1, participants: 1 } });
    const ops = (await sc.handle.store.journal.list({ team: 'devops', limit: 100 })).filter((o) => o.idempotencyKey === `team:devops/${key}`);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ type: 'consensus.request', status: 'succeeded' });
    const audited = (await sc.handle.store.audit.list({ team: 'devops', operationType: 'consensus.request' })).filter((e) => e.metadata?.idempotencyKey === key);
    expect(audited.length).toBe(2); // each call is audited, both link to the one operation
    expect(audited.every((e) => e.operationId === ops[0]!.id)).toBe(true);
    const progress = [...progressA, ...progressB];
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p) => p.operationId === ops[0]!.id)).toBe(true);
    expect(progress.map((p) => p.phase)).toContain('voting');
  });

  it('operation.get and operation.attach replay a finished operation; another team may not see it', async () => {
    const [op] = await sc.handle.store.journal.list({ team: 'devops', status: 'succeeded', limit: 1 });
    const c = await connect('devops-ci');
    expect(await c.call('operation.get', { operationId: op!.id })).toMatchObject({ ok: true, result: { id: op!.id, status: 'succeeded' } });
    expect(await c.call('operation.attach', { operationId: op!.id })).toEqual({ ok: true, result: op!.result });
    const other = await connect('limited');
    const denied = await other.call('operation.get', { operationId: op!.id });
    expect(!denied.ok && denied.error.data?.code).toBe('FORBIDDEN');
    const missing = await c.call('operation.get', { operationId: '00000000-0000-4000-8000-000000000000' });
    expect(!missing.ok && missing.error.data?.code).toBe('NOT_FOUND');
  });

  it('environment.status creates the team row on first sight and reports no build switch', async () => {
    const c = await connect('devops-ci');
    expect(await c.call('environment.status', { team: 'devops', build: 'devops/x#1' })).toEqual({
      ok: true,
      result: { active: 'blue', previous: null, weights: { blue: 100, green: 0 }, operation: null, lastKnownGood: 'blue', buildSwitch: null, switch: null },
    });
    // Containers only when asked; null here: without a teams file the sidecar knows no container names.
    expect(await c.call('environment.status', { team: 'devops', containers: true })).toMatchObject({ ok: true, result: { active: 'blue', containers: null } });
  });

  it('coordination.update records one audit entry', async () => {
    const c = await connect('devops-ci');
    const r = await c.call('coordination.update', { team: 'devops', operation: 'self_management', status: 'FAILURE', environment: 'green', build: 'devops/B#2' });
    expect(r).toMatchObject({ ok: true, result: { recorded: true } });
    const entries = (await sc.handle.store.audit.list({ team: 'devops', operationType: 'self_management' })).filter((e) => e.initiatedBy === 'devops/B#2');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ status: 'FAILURE', targetEnvironment: 'green' });
  });

  it('leadership.establish takes the team scope for this instance', async () => {
    const c = await connect('devops-ci');
    expect(await c.call('leadership.establish', { team: 'devops', leaseSec: 30 })).toMatchObject({
      ok: true,
      result: { scope: 'team:devops', leader: sc.handle.instanceId, isLeader: true },
    });
  });

  it('rpc.discover lists every core method with a JSON Schema of its params', async () => {
    const c = await connect('devops-ci');
    const r = await c.call('rpc.discover');
    const names = r.ok ? (r.result as { methods: Array<{ name: string }> }).methods.map((m) => m.name) : [];
    for (const m of ['lock.acquire', 'lock.release', 'lock.renew', 'lock.list', 'leadership.establish', 'consensus.request', 'environment.status', 'coordination.update', 'operation.get', 'operation.attach', 'breaker.status', 'rpc.discover']) {
      expect(names).toContain(m);
    }
    const acquire = r.ok ? (r.result as { methods: Array<{ name: string; params: { required?: string[] } }> }).methods.find((m) => m.name === 'lock.acquire') : undefined;
    expect(acquire?.params.required).toEqual(['team', 'operation']);
  });

  it('keeps the socket usable after errors', async () => {
    const c = await connect('ops');
    await c.raw('not json');
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect((await c.call('breaker.status', {})).ok).toBe(true);
  });
});

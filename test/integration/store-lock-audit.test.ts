import { Client } from 'pg';
import { RpcConnection, type RpcReply } from '../../agent/src/rpc/client';
import { createPgStore, type PgStore } from '../../agent/src/store';
import type { AuditEntry } from '../../agent/src/store/contract';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startTestSidecar, uniqueId, type InProcessSidecar } from '../support/sidecar-harness';
import { caught } from '../support/caught';

/**
 * A lock change and its audit row commit in ONE transaction (pg-locks.ts `audit`):
 * the store writes the row only when the change happens, a failing row takes the change
 * with it, and through the RPC path every call still has exactly one row with the same
 * who/what/outcome as before (FAILURE rows included). "Same transaction" is checked on
 * PostgreSQL's own record of it: the lock row and the audit row carry the same xmin.
 */
jest.setTimeout(60_000);

let db: TestDatabase;
let pg: Client;

beforeAll(async () => {
  db = await createTestDatabase('lockaudit');
  pg = new Client({ connectionString: db.url });
  await pg.connect();
});

afterAll(async () => {
  await pg?.end();
  await db?.drop();
});

const auditRows = async (where: string, params: unknown[]) =>
  (await pg.query<{ id: string; status: string; operation_type: string; xmin: string; audit_metadata: Record<string, unknown>; operation_id: string | null }>(
    `SELECT id, status, operation_type, xmin::text AS xmin, audit_metadata, operation_id FROM deployment_audit WHERE ${where} ORDER BY started_at, id`,
    params,
  )).rows;

const lockXmin = async (lockName: string) => (await pg.query<{ xmin: string }>('SELECT xmin::text AS xmin FROM coordination_locks WHERE lock_name = $1', [lockName])).rows[0]?.xmin;

/** The result of a call that must succeed; the error message otherwise. */
function resultOf(reply: RpcReply): Record<string, unknown> {
  if (!reply.ok) throw new Error(`call failed: ${reply.error.message}`);
  return reply.result as Record<string, unknown>;
}


describe('PgLockStore with an audit row', () => {
  let store: PgStore;
  const actor = { tokenId: 'tok-a', build: 'devops/Switch#1', instanceId: 'lockaudit' };
  const entry = (operationType: string, marker: string, extra: Partial<AuditEntry> = {}): AuditEntry => ({
    operationType,
    team: 'devops',
    initiatedBy: actor.build,
    status: 'SUCCESS',
    metadata: { marker },
    actor,
    ...extra,
  });

  beforeAll(async () => {
    store = await createPgStore({ connectionString: db.url, instanceId: 'lockaudit', poolMax: 3 });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('acquire writes the row in the transaction that grants the lock; a refused acquire writes none', async () => {
    const grant = await store.locks.acquire({ team: 'devops', operation: 'st_acq', ttlSec: 60, waitSec: 0, owner: 'a', actor, audit: entry('lock.acquire', 'acq-1') });
    expect(grant.auditId).toMatch(/^[0-9a-f-]{36}$/);
    const [row] = await auditRows('id = $1', [grant.auditId]);
    expect(row).toMatchObject({ status: 'SUCCESS', operation_type: 'lock.acquire', audit_metadata: { marker: 'acq-1' } });
    expect(row!.xmin).toBe(await lockXmin('devops:st_acq'));

    const refused = await caught(store.locks.acquire({ team: 'devops', operation: 'st_acq', ttlSec: 60, waitSec: 0, owner: 'b', actor, audit: entry('lock.acquire', 'acq-2') }));
    expect(refused.code).toBe('LOCK_HELD');
    expect(await auditRows(`audit_metadata->>'marker' = $1`, ['acq-2'])).toEqual([]);
  });

  it('a row that cannot be written takes the lock change with it (one transaction)', async () => {
    const bad = entry('lock.acquire', 'acq-bad', { operationId: 'not-a-uuid' });
    await expect(store.locks.acquire({ team: 'devops', operation: 'st_atomic', ttlSec: 60, waitSec: 0, owner: 'a', actor, audit: bad })).rejects.toThrow(/uuid/);
    expect(await lockXmin('devops:st_atomic')).toBeUndefined();
    expect(await auditRows(`audit_metadata->>'marker' = $1`, ['acq-bad'])).toEqual([]);

    const g = await store.locks.acquire({ team: 'devops', operation: 'st_atomic', ttlSec: 60, waitSec: 0, owner: 'a', actor });
    await expect(store.locks.release({ team: 'devops', operation: 'st_atomic', token: g.token, owner: 'a', actor, audit: entry('lock.release', 'rel-bad', { operationId: 'nope' }) })).rejects.toThrow(
      /uuid/,
    );
    expect(await lockXmin('devops:st_atomic')).toBeDefined(); // still held: the delete rolled back with the row
    expect(await store.locks.release({ team: 'devops', operation: 'st_atomic', token: g.token, owner: 'a', actor })).toEqual({ released: true });
  });

  it('renew writes the row with the renewal; a fenced renew writes none', async () => {
    const g = await store.locks.acquire({ team: 'devops', operation: 'st_renew', ttlSec: 60, waitSec: 0, owner: 'a', actor });
    const renewed = await store.locks.renew({ team: 'devops', operation: 'st_renew', token: g.token, ttlSec: 120, audit: entry('lock.renew', 'ren-1') });
    const [row] = await auditRows('id = $1', [renewed.auditId]);
    expect(row).toMatchObject({ status: 'SUCCESS', operation_type: 'lock.renew' });
    expect(row!.xmin).toBe(await lockXmin('devops:st_renew'));
    expect((await caught(store.locks.renew({ team: 'devops', operation: 'st_renew', token: g.token + 1000, ttlSec: 120, audit: entry('lock.renew', 'ren-2') }))).code).toBe('FENCED');
    expect(await auditRows(`audit_metadata->>'marker' = $1`, ['ren-2'])).toEqual([]);
  });

  it('release writes the row whether or not a lock was removed, and still notifies waiters', async () => {
    const g = await store.locks.acquire({ team: 'devops', operation: 'st_rel', ttlSec: 60, waitSec: 0, owner: 'a', actor });
    // A waiter in a second store is woken by the release's NOTIFY (same statement as the audit insert).
    const other = await createPgStore({ connectionString: db.url, instanceId: 'lockaudit-w', poolMax: 2 });
    try {
      const waiting = other.locks.acquire({ team: 'devops', operation: 'st_rel', ttlSec: 60, waitSec: 30, owner: 'w', actor });
      const released = await store.locks.release({ team: 'devops', operation: 'st_rel', token: g.token, owner: 'a', actor, audit: entry('lock.release', 'rel-1') });
      expect(released.released).toBe(true);
      expect(await auditRows('id = $1', [released.auditId])).toEqual([expect.objectContaining({ status: 'SUCCESS', operation_type: 'lock.release' })]);
      const w = await waiting;
      expect(w.holder).toBe('w');
      const none = await store.locks.release({ team: 'devops', operation: 'st_rel', token: g.token, owner: 'a', actor, audit: entry('lock.release', 'rel-2') });
      expect(none.released).toBe(false);
      expect(await auditRows('id = $1', [none.auditId])).toHaveLength(1);
      await other.locks.release({ team: 'devops', operation: 'st_rel', token: w.token, owner: 'w', actor });
    } finally {
      await other.close();
    }
  });
});

describe('lock calls through the RPC dispatcher: one row per call, same who/what/outcome', () => {
  let sc: InProcessSidecar;
  let c: RpcConnection;
  const build = `devops/Infrastructure/Switch-${uniqueId('b')}#7`;

  beforeAll(async () => {
    sc = await startTestSidecar({ databaseUrl: db.url, tokens: [{ id: 'devops-ci', teams: ['devops'] }] });
    c = await RpcConnection.open(sc.handle.rpcUrl, sc.secrets['devops-ci']!);
  });
  afterAll(async () => {
    await c?.close();
    await sc?.stop();
  });

  const rowsOfBuild = () =>
    pg.query<{
      operation_type: string;
      status: string;
      initiated_by: string;
      token_id: string;
      build: string;
      instance_id: string;
      completed_at: Date | null;
      operation_id: string | null;
      audit_metadata: Record<string, unknown>;
      xmin: string;
    }>(`SELECT *, xmin::text AS xmin FROM deployment_audit WHERE build = $1 ORDER BY started_at, completed_at, id`, [build]);

  it('acquire (with the lock, one commit), refused acquire (FAILURE), renew, release, release of nothing, journaled acquire', async () => {
    const got = resultOf(await c.call('lock.acquire', { team: 'devops', operation: 'rpc_audit', ttlSec: 60, build }));
    const token = got.token as number;
    expect(got).not.toHaveProperty('auditId');
    let rows = (await rowsOfBuild()).rows;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      operation_type: 'lock.acquire',
      status: 'SUCCESS',
      initiated_by: build,
      token_id: 'devops-ci',
      build,
      instance_id: sc.handle.instanceId,
      operation_id: null,
      audit_metadata: { tokenId: 'devops-ci', build, instanceId: sc.handle.instanceId, params: { team: 'devops', operation: 'rpc_audit', ttlSec: 60, waitSec: 0 } },
    });
    expect(rows[0]!.completed_at).toBeInstanceOf(Date);
    expect(rows[0]!.xmin).toBe(await lockXmin('devops:rpc_audit'));

    const refused = await c.call('lock.acquire', { team: 'devops', operation: 'rpc_audit', ttlSec: 60, owner: 'someone-else', build });
    expect(refused).toMatchObject({ ok: false, error: { data: { code: 'LOCK_HELD' } } });
    const renewed = resultOf(await c.call('lock.renew', { team: 'devops', operation: 'rpc_audit', token, ttlSec: 90, build }));
    expect(renewed).not.toHaveProperty('auditId');
    const rel = await c.call('lock.release', { team: 'devops', operation: 'rpc_audit', token, build });
    expect(rel).toEqual({ ok: true, result: { released: true } });
    const relNothing = await c.call('lock.release', { team: 'devops', operation: 'rpc_audit', token, build });
    expect(relNothing).toEqual({ ok: true, result: { released: false } });
    const key = uniqueId('idem');
    const journaled = resultOf(await c.call('lock.acquire', { team: 'devops', operation: 'rpc_audit_j', ttlSec: 60, build, idempotencyKey: key }));

    rows = (await rowsOfBuild()).rows;
    expect(rows.map((r) => [r.operation_type, r.status])).toEqual([
      ['lock.acquire', 'SUCCESS'],
      ['lock.acquire', 'FAILURE'],
      ['lock.renew', 'SUCCESS'],
      ['lock.release', 'SUCCESS'],
      ['lock.release', 'SUCCESS'],
      ['lock.acquire', 'SUCCESS'],
    ]);
    expect(rows[1]!.audit_metadata).toMatchObject({ error: { code: 'LOCK_HELD' }, params: { owner: 'someone-else' } });
    expect(rows[1]!.completed_at).toBeInstanceOf(Date);
    const [op] = (await sc.handle.store.journal.list({ team: 'devops', limit: 50 })).filter((o) => o.idempotencyKey === `team:devops/${key}`);
    expect(rows[5]).toMatchObject({ operation_id: op!.id, audit_metadata: { idempotencyKey: key } });
    await c.call('lock.release', { team: 'devops', operation: 'rpc_audit_j', token: journaled.token as number });
  });
});

import { Pool } from 'pg';
import { SidecarError } from '../../agent/src/sidecar-error';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgStore, loadMigrations, migrate, PgStore } from '../../agent/src/store';
import { createTestDatabase, TestDatabase } from '../support/database';
import { caught } from '../support/caught';

// Waits on real leases and timeouts take seconds; jest's default 5 s per test is too short.
jest.setTimeout(60_000);

/** Several stores on one database stand in for several sidecars. */
const actor = (instanceId: string) => ({ tokenId: `token-${instanceId}`, build: `devops/Infrastructure/Switch#${instanceId}`, instanceId });


describe('migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('storemig');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('two sidecars migrating at once: each migration applied exactly once, then idempotent', async () => {
    const pools = [new Pool({ connectionString: db.url, max: 2 }), new Pool({ connectionString: db.url, max: 2 }), new Pool({ connectionString: db.url, max: 2 })];
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p)));
      const all = applied.flat().sort();
      expect(all.length).toBeGreaterThan(0);
      expect(new Set(all).size).toBe(all.length); // nobody applied a version twice
      const rows = await pools[0].query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.rows.map((r) => r.version)).toEqual(all);
      expect(await migrate(pools[1])).toEqual([]);
      const tables = await pools[0].query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual(
        expect.arrayContaining(['jenkins_coordination', 'environment_state', 'coordination_locks', 'deployment_audit', 'participants', 'leadership_leases', 'consensus_proposals', 'consensus_votes', 'circuit_breakers', 'idempotency_keys']),
      );
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('several pending migrations, four migrators at once: each applied once, in order; a failing one leaves no version row', async () => {
    const other = await createTestDatabase('storemig2');
    const dir = mkdtempSync(join(tmpdir(), 'jsm-mig-'));
    const pools = [0, 1, 2, 3].map(() => new Pool({ connectionString: other.url, max: 2 }));
    try {
      writeFileSync(join(dir, '000001_a.sql'), 'CREATE TABLE mig_a (id int PRIMARY KEY);');
      writeFileSync(join(dir, '000002_b.sql'), 'CREATE TABLE mig_b (a int REFERENCES mig_a (id));');
      writeFileSync(join(dir, '000003_c.sql'), 'INSERT INTO mig_a VALUES (1); SELECT pg_sleep(0.2);');
      const applied = await Promise.all(pools.map((p) => migrate(p, loadMigrations(dir))));
      expect(applied.flat().sort()).toEqual([1, 2, 3]);
      expect((await pools[0].query('SELECT count(*)::int AS n FROM mig_a')).rows[0].n).toBe(1);

      writeFileSync(join(dir, '000004_bad.sql'), 'CREATE TABLE mig_d (id int); SELECT * FROM no_such_table;');
      await expect(migrate(pools[1], loadMigrations(dir))).rejects.toThrow(/migration 000004_bad failed: .*no_such_table/);
      const versions = await pools[0].query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(versions.rows.map((r) => r.version)).toEqual([1, 2, 3]);
      expect((await pools[0].query(`SELECT to_regclass('mig_d') AS t`)).rows[0].t).toBeNull();

      writeFileSync(join(dir, '000006_gap.sql'), 'SELECT 1;');
      expect(() => loadMigrations(dir)).toThrow(/expected version 5/);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      rmSync(dir, { recursive: true, force: true });
      await other.drop();
    }
  });

  it('createPgStore on an unreachable database fails with one clear message', async () => {
    const u = new URL(db.url);
    u.port = '1'; // nothing listens on port 1
    await expect(createPgStore({ connectionString: u.toString(), instanceId: 'x' })).rejects.toThrow(/coordination database 127\.0\.0\.1:1\//);
  });
});

describe('locks (PgLockStore)', () => {
  let db: TestDatabase;
  const stores: PgStore[] = [];
  const N = 6;
  beforeAll(async () => {
    db = await createTestDatabase('storelocks');
    for (let i = 0; i < N; i++) stores.push(await createPgStore({ connectionString: db.url, instanceId: `s${i}`, poolMax: 3 }));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await db.drop();
  });

  it('exactly one of N concurrent acquires wins; the others get LOCK_HELD naming holder and expiry', async () => {
    const results = await Promise.allSettled(
      stores.map((s, i) => s.locks.acquire({ team: 'devops', operation: 'blue_green_switch', ttlSec: 60, waitSec: 0, owner: `build-${i}`, actor: actor(`s${i}`) })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(N - 1);
    const grant = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<PgStore['locks']['acquire']>>>).value;
    expect(grant.lockName).toBe('devops:blue_green_switch');
    expect(Number.isInteger(grant.token)).toBe(true);
    for (const l of lost) {
      const err = l.reason as SidecarError;
      expect(err.code).toBe('LOCK_HELD');
      expect(err.data).toMatchObject({ lockName: 'devops:blue_green_switch', holder: grant.holder, expiresAt: grant.expiresAt.toISOString() });
      expect(err.message).toContain(`held by ${grant.holder} until`);
      expect(err.message).toContain('sidecarctl locks');
    }
    expect(await stores[1].locks.list({ team: 'devops' })).toEqual([expect.objectContaining({ lockName: grant.lockName, token: grant.token, holder: grant.holder })]);
    expect(await stores[2].locks.release({ team: 'devops', operation: 'blue_green_switch', token: grant.token, owner: 'x', actor: actor('s2') })).toEqual({ released: true });
    expect(await stores[2].locks.list()).toEqual([]);
  });

  it('waitSec: a waiter gets the lock when the holder releases, and says how long it waited', async () => {
    const [holder, waiter] = stores;
    const held = await holder.locks.acquire({ team: 'web', operation: 'blue_green_switch', ttlSec: 60, waitSec: 0, owner: 'holder', actor: actor('s0') });
    const events: string[] = [];
    const waiting = waiter.locks
      .acquire({ team: 'web', operation: 'blue_green_switch', ttlSec: 60, waitSec: 20, owner: 'waiter', actor: actor('s1') })
      .then((g) => {
        events.push('acquired');
        return g;
      });
    // Let the waiter find the lock held and go to sleep before releasing.
    await new Promise((r) => setTimeout(r, 400));
    events.push('releasing');
    expect(await holder.locks.release({ team: 'web', operation: 'blue_green_switch', owner: 'holder', actor: actor('s0') })).toEqual({ released: true });
    const got = await waiting;
    expect(events).toEqual(['releasing', 'acquired']);
    expect(got.holder).toBe('waiter');
    expect(got.token).toBeGreaterThan(held.token);
    expect(got.waitedMs).toBeGreaterThan(0);
    expect(got.attempts).toBeGreaterThan(1);
    await waiter.locks.release({ team: 'web', operation: 'blue_green_switch', owner: 'waiter', actor: actor('s1') });
  });

  it('a long wait sleeps between attempts instead of spinning', async () => {
    const [holder, waiter] = stores;
    await holder.locks.acquire({ team: 'web', operation: 'plugin_update', ttlSec: 60, waitSec: 0, owner: 'holder', actor: actor('s0') });
    const waiting = waiter.locks.acquire({ team: 'web', operation: 'plugin_update', ttlSec: 60, waitSec: 20, owner: 'waiter', actor: actor('s1') });
    await new Promise((r) => setTimeout(r, 2_500));
    await holder.locks.release({ team: 'web', operation: 'plugin_update', owner: 'holder', actor: actor('s0') });
    const got = await waiting;
    // Backoff 250 ms, 500 ms, 1 s, 2 s... then the release NOTIFY: a handful of tries, not hundreds.
    expect(got.attempts).toBeLessThan(10);
    await waiter.locks.release({ team: 'web', operation: 'plugin_update', owner: 'waiter', actor: actor('s1') });
  });

  it('an aborted wait (emergency stop, caller gone) ends with LOCK_HELD saying so', async () => {
    await stores[0].locks.acquire({ team: 'ops', operation: 'restore', ttlSec: 60, waitSec: 0, owner: 'holder', actor: actor('s0') });
    const ac = new AbortController();
    const waiting = caught(stores[1].locks.acquire({ team: 'ops', operation: 'restore', ttlSec: 60, waitSec: 50, owner: 'other', actor: actor('s1'), signal: ac.signal }));
    setTimeout(() => ac.abort(), 300);
    const err = await waiting;
    expect(err.code).toBe('LOCK_HELD');
    expect(err.message).toContain('the call was aborted');
    expect(err.data.waitedSec as number).toBeLessThan(50);
  });

  it('waitSec runs out: LOCK_HELD says how long it waited', async () => {
    await stores[0].locks.acquire({ team: 'ops', operation: 'backup', ttlSec: 60, waitSec: 0, owner: 'holder', actor: actor('s0') });
    const err = await caught(stores[1].locks.acquire({ team: 'ops', operation: 'backup', ttlSec: 60, waitSec: 1, owner: 'other', actor: actor('s1') }));
    expect(err.code).toBe('LOCK_HELD');
    expect(err.message).toMatch(/\(waited \d+\.\ds\)/);
    expect(err.data.waitedSec).toBeGreaterThan(0);
    expect(err.data.holder).toBe('holder');
  });

  it('expiry frees the lock; the old token is FENCED and the new grant has a higher token', async () => {
    const [a, b] = stores;
    const old = await a.locks.acquire({ team: 'qa', operation: 'blue_green_switch', ttlSec: 1, waitSec: 0, owner: 'old-build', actor: actor('s0') });
    expect((await a.locks.assertHeld({ team: 'qa', operation: 'blue_green_switch', token: old.token })).token).toBe(old.token);
    // b waits; nobody releases, so it is the expiry that lets it in.
    const fresh = await b.locks.acquire({ team: 'qa', operation: 'blue_green_switch', ttlSec: 30, waitSec: 10, owner: 'new-build', actor: actor('s1') });
    expect(fresh.token).toBeGreaterThan(old.token);
    const fenced = await caught(a.locks.assertHeld({ team: 'qa', operation: 'blue_green_switch', token: old.token }));
    expect(fenced.code).toBe('FENCED');
    expect(fenced.message).toContain('new-build');
    expect(fenced.data).toMatchObject({ token: old.token, currentToken: fresh.token, currentHolder: 'new-build' });
    expect((await caught(a.locks.renew({ team: 'qa', operation: 'blue_green_switch', token: old.token, ttlSec: 60 }))).code).toBe('FENCED');
    // The stale holder cannot release the new grant, by token or by its owner name.
    expect(await a.locks.release({ team: 'qa', operation: 'blue_green_switch', token: old.token, owner: 'old-build', actor: actor('s0') })).toEqual({ released: false });
    expect(await a.locks.release({ team: 'qa', operation: 'blue_green_switch', owner: 'old-build', actor: actor('s0') })).toEqual({ released: false });
    const renewed = await b.locks.renew({ team: 'qa', operation: 'blue_green_switch', token: fresh.token, ttlSec: 120 });
    expect(renewed.token).toBe(fresh.token);
    expect(renewed.expiresAt.getTime()).toBeGreaterThan(fresh.expiresAt.getTime());
    expect(await b.locks.release({ team: 'qa', operation: 'blue_green_switch', owner: 'new-build', actor: actor('s1') })).toEqual({ released: true });
    expect(await b.locks.release({ team: 'qa', operation: 'blue_green_switch', owner: 'new-build', actor: actor('s1') })).toEqual({ released: false });
  });

  it('an expired lock is re-granted to exactly one of N concurrent acquirers', async () => {
    await stores[0].locks.acquire({ team: 'infra', operation: 'plugin_update', ttlSec: 60, waitSec: 0, owner: 'crashed-build', actor: actor('s0') });
    // Let it lapse by the database clock instead of waiting a TTL.
    await stores[0].pool.query(`UPDATE coordination_locks SET expires_at = now() - interval '1 second' WHERE lock_name = 'infra:plugin_update'`);
    const results = await Promise.allSettled(
      stores.map((s, i) => s.locks.acquire({ team: 'infra', operation: 'plugin_update', ttlSec: 60, waitSec: 0, owner: `b-${i}`, actor: actor(`s${i}`) })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as SidecarError).code).toBe('LOCK_HELD');
  });

  it('rejects names that do not fit the patterns before touching the database', async () => {
    await expect(stores[0].locks.acquire({ team: 'Dev Ops', operation: 'x', ttlSec: 10, waitSec: 0, owner: 'o', actor: actor('s0') })).rejects.toThrow(/invalid team name/);
    await expect(stores[0].locks.acquire({ team: 'devops', operation: "x'; DROP TABLE coordination_locks; --", ttlSec: 10, waitSec: 0, owner: 'o', actor: actor('s0') })).rejects.toThrow(
      /invalid operation name/,
    );
  });
});

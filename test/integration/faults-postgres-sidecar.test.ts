import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../agent/src/store/embedded-postgres';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { httpGet, RpcClient, type RpcMessage } from '../support/sidecar-process-rpc';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { eventually } from '../support/eventually';

/**
 * Faults from the seed's risk list, against real processes:
 * - Risk 3, the coordination database goes away: the sidecar stays up, says
 *   so (/readyz 503 naming PostgreSQL, calls answer with an error instead of
 *   hanging), keeps no false state, and serves again when the database is back.
 * - Risk 2, the sidecar itself dies (SIGKILL) holding a lock: the lease lapses,
 *   another sidecar takes the lock with a higher fencing token, and the
 *   restarted sidecar's stale token is FENCED.
 */
jest.setTimeout(90_000);

const TEAM = `ft-${randomBytes(3).toString('hex')}`;


describe('the coordination database goes down and comes back', () => {
  let dir: string;
  let pg: EmbeddedPostgresHandle | null = null;
  let sc: SidecarProcess | null = null;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jsm-faults-pg-'));
    chmodSync(dir, 0o711);
    pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: await freePort() });
    sc = await startSidecarProcess({ databaseUrl: pg.url, tokens: [{ id: 'ops', teams: ['*'] }], env: { SIDECAR_HEARTBEAT_SEC: '1' } });
  });

  afterAll(async () => {
    await sc?.stop();
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stays up, reports PostgreSQL down, answers calls with an error, and recovers with its state intact', async () => {
    const c = await RpcClient.connect(sc!.rpcUrl, sc!.secrets['ops']!);
    try {
      const held = await c.call('lock.acquire', { team: TEAM, operation: 'db_outage', ttlSec: 300, owner: 'before-outage' });
      expect(held.error).toBeUndefined();
      const token = (held.result as { token: number }).token;

      const port = pg!.port;
      await pg!.stop();

      const ready = await eventually(
        '/readyz reports PostgreSQL down',
        async () => {
          const r = await httpGet(`${sc!.httpUrl}/readyz`);
          return r.status === 503 ? r : null;
        },
        15_000,
      );
      expect(ready.body.toLowerCase()).toContain('postgres');
      expect((await httpGet(`${sc!.httpUrl}/healthz`)).status).toBe(200);

      // A call during the outage gets a bounded DEPENDENCY_DOWN answer naming the database, not silence
      // and not -32603: mutating (lock.acquire, lock.release) and reading (lock.list, environment.status) alike.
      const during: RpcMessage = await c.call('lock.acquire', { team: TEAM, operation: 'during_outage', ttlSec: 30 }, 30_000);
      expect(during.result).toBeUndefined();
      expect(during.error).toMatchObject({ code: -32000, data: { code: 'DEPENDENCY_DOWN', dependency: 'postgres' } });
      expect(during.error?.message).toMatch(/^the coordination database \(PostgreSQL\) is unreachable \(/);
      for (const [method, params] of [
        ['lock.release', { team: TEAM, operation: 'db_outage', token }],
        ['lock.list', { team: TEAM }],
        ['environment.status', { team: TEAM }],
      ] as const) {
        const r: RpcMessage = await c.call(method, params, 30_000);
        expect({ method, error: r.error }).toMatchObject({ method, error: { code: -32000, data: { code: 'DEPENDENCY_DOWN' }, message: expect.stringMatching(/coordination database .* unreachable/) } });
      }
      expect(sc!.exited()).toBe(false);

      // The database comes back on the same port with the same data.
      pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port });
      const listed = await eventually(
        'calls succeed again',
        async () => {
          const r = await c.call('lock.list', { team: TEAM }, 10_000);
          return r.result ? (r.result as { locks: Array<{ lockName: string; token: number; holder: string }> }) : null;
        },
        30_000,
      );
      // The lock from before the outage is still there; the refused call left nothing.
      expect(listed.locks).toEqual([expect.objectContaining({ lockName: `${TEAM}:db_outage`, token, holder: 'before-outage' })]);
      await eventually(
        '/readyz ready again',
        async () => {
          const r = await httpGet(`${sc!.httpUrl}/readyz`);
          return r.status === 200 ? r : null;
        },
        15_000,
      );
      const again = await c.call('lock.acquire', { team: TEAM, operation: 'after_outage', ttlSec: 30 });
      expect(again.error).toBeUndefined();
      expect((again.result as { token: number }).token).toBeGreaterThan(token);
    } finally {
      await c.close();
    }
  });
});

describe('a sidecar is killed while holding a lock', () => {
  let db: TestDatabase;
  const procs: SidecarProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('faults');
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop().catch(() => undefined)));
    await db?.drop();
  });

  it('lets the lease lapse to another sidecar and fences the restarted one', async () => {
    const secret = randomBytes(24).toString('hex');
    const tokens = [{ id: 'ops', teams: ['*'], secret }];
    const a = await startSidecarProcess({ databaseUrl: db.url, tokens, instanceId: `fa-a-${TEAM}` });
    procs.push(a);
    const b = await startSidecarProcess({ databaseUrl: db.url, tokens, instanceId: `fa-b-${TEAM}` });
    procs.push(b);

    const ca = await RpcClient.connect(a.rpcUrl, secret);
    const first = await ca.call('lock.acquire', { team: TEAM, operation: 'blue_green_switch', ttlSec: 3, owner: 'a-build#1' });
    expect(first.error).toBeUndefined();
    const t1 = (first.result as { token: number }).token;
    await a.kill();
    ca.ws.terminate();

    const cb = await RpcClient.connect(b.rpcUrl, secret);
    try {
      const refused = await cb.call('lock.acquire', { team: TEAM, operation: 'blue_green_switch', ttlSec: 60, owner: 'b-build#1' });
      expect(refused.error).toMatchObject({ data: { code: 'LOCK_HELD', holder: 'a-build#1' } });
      const taken = await cb.call('lock.acquire', { team: TEAM, operation: 'blue_green_switch', ttlSec: 60, waitSec: 15, owner: 'b-build#1' }, 30_000);
      expect(taken.error).toBeUndefined();
      expect((taken.result as { token: number }).token).toBeGreaterThan(t1);

      // A restarted on the same data dir: its late renewal with the old token is FENCED.
      const a2 = await startSidecarProcess({ databaseUrl: db.url, tokens, instanceId: `fa-a-${TEAM}` });
      procs.push(a2);
      const ca2 = await RpcClient.connect(a2.rpcUrl, secret);
      try {
        const late = await ca2.call('lock.renew', { team: TEAM, operation: 'blue_green_switch', token: t1, ttlSec: 600 });
        expect(late.error).toMatchObject({ data: { code: 'FENCED', currentHolder: 'b-build#1' } });
        const lateRelease = await ca2.call('lock.release', { team: TEAM, operation: 'blue_green_switch', token: t1 });
        expect(lateRelease.result).toEqual({ released: false });
      } finally {
        await ca2.close();
      }
      const still = await cb.call('lock.list', { team: TEAM });
      expect((still.result as { locks: Array<{ holder: string }> }).locks.map((l) => l.holder)).toEqual(['b-build#1']);
    } finally {
      await cb.close();
    }
  });
});

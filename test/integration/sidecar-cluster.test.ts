import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { RpcConnection, type RpcReply } from '../../agent/src/rpc/client';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startBareHaproxy, tempDir, uniqueId } from '../support/sidecar-harness';
import { spawnSidecarProcess, writeTokensFile, type SidecarChild } from '../support/sidecar-process';

/**
 * THREE jenkins-sidecar processes on one PostgreSQL database: lock contention,
 * expiry and fencing, leader failover after kill -9, consensus approved /
 * denied by votes / denied on timeout, SIGTERM releasing what it holds.
 * Each sidecar votes from its own local facts: C's HAProxy socket does not
 * exist, B's HAProxy is real until the test stops it.
 * Needs a fresh `npm run build` (npm test does it).
 */
jest.setTimeout(180_000);

let db: TestDatabase;
let dir: string;
let observer: PgStore;
let haproxyB: { socketPath: string; stop(): Promise<void> };
let secret: string;
const ids = { a: uniqueId('sc-a'), b: uniqueId('sc-b'), c: uniqueId('sc-c') };
const sc: Record<'a' | 'b' | 'c', SidecarChild | undefined> = { a: undefined, b: undefined, c: undefined };
const conns: RpcConnection[] = [];
let baseEnv: Record<string, string>;

const LEASE_SEC = 3;

function start(name: 'a' | 'b' | 'c', extra: Record<string, string> = {}): Promise<SidecarChild> {
  return spawnSidecarProcess({ env: { ...baseEnv, SIDECAR_INSTANCE_ID: ids[name], SIDECAR_DATA_DIR: join(dir, name), ...extra }, startTimeoutMs: 90_000 });
}

async function rpc(name: 'a' | 'b' | 'c'): Promise<RpcConnection> {
  const c = await RpcConnection.open(sc[name]!.rpcUrl, secret);
  conns.push(c);
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  db = await createTestDatabase('cluster');
  dir = tempDir('jsm-cluster-');
  const tokensPath = join(dir, 'tokens.yaml');
  secret = writeTokensFile(tokensPath, [{ id: 'ops', teams: ['*'] }]).ops!;
  haproxyB = await startBareHaproxy();
  baseEnv = {
    HOME: dir,
    SIDECAR_DATABASE_URL: db.url,
    SIDECAR_TOKENS_FILE: tokensPath,
    SIDECAR_HEARTBEAT_SEC: '1',
    SIDECAR_LIVE_WITHIN_SEC: '4',
    SIDECAR_SHUTDOWN_GRACE_SEC: '3',
  };
  [sc.a, sc.b, sc.c] = await Promise.all([
    start('a'),
    start('b', { SIDECAR_HAPROXY_SOCKET: haproxyB.socketPath }),
    start('c', { SIDECAR_HAPROXY_SOCKET: join(dir, 'no-haproxy-here.sock') }),
  ]);
  observer = await createPgStore({ connectionString: db.url, instanceId: uniqueId('observer') });
});

afterAll(async () => {
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  for (const s of Object.values(sc)) {
    if (s && s.child.signalCode === null && s.child.exitCode === null) {
      s.child.kill('SIGCONT');
      await s.kill();
    }
  }
  await observer?.close();
  await haproxyB?.stop();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

const errCode = (r: RpcReply): string | undefined => (r.ok ? undefined : r.error.data?.code);

describe('locks across sidecars', () => {
  it('exactly one of three concurrent acquires wins; the losers get LOCK_HELD naming holder and expiry', async () => {
    const [ca, cb, cc] = await Promise.all([rpc('a'), rpc('b'), rpc('c')]);
    const replies = await Promise.all([
      ca.call('lock.acquire', { team: 'devops', operation: 'blue_green_switch', ttlSec: 60, owner: 'devops/Switch#1' }),
      cb.call('lock.acquire', { team: 'devops', operation: 'blue_green_switch', ttlSec: 60, owner: 'devops/Switch#2' }),
      cc.call('lock.acquire', { team: 'devops', operation: 'blue_green_switch', ttlSec: 60, owner: 'devops/Switch#3' }),
    ]);
    const winners = replies.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    const holder = (winners[0] as { result: { holder: string; expiresAt: string } }).result;
    for (const loser of replies.filter((r) => !r.ok)) {
      expect(errCode(loser)).toBe('LOCK_HELD');
      if (!loser.ok) {
        expect(loser.error.data).toMatchObject({ holder: holder.holder, expiresAt: holder.expiresAt });
        expect(loser.error.message).toContain(`held by ${holder.holder} until ${holder.expiresAt.slice(0, 19)}`);
      }
    }
  });

  it('an expired lock goes to the next owner with a higher token; the old token is FENCED', async () => {
    const [ca, cb] = await Promise.all([rpc('a'), rpc('b')]);
    const first = await ca.call('lock.acquire', { team: 'devops', operation: 'expiry_test', ttlSec: 1, owner: 'first' });
    expect(first.ok).toBe(true);
    const t1 = (first as { result: { token: number } }).result.token;
    let second: RpcReply = { ok: false, error: { code: 0, message: 'not tried' } };
    for (let i = 0; i < 30; i++) {
      second = await cb.call('lock.acquire', { team: 'devops', operation: 'expiry_test', ttlSec: 60, owner: 'second' });
      if (second.ok || errCode(second) !== 'LOCK_HELD') break;
      await sleep(200);
    }
    expect(second).toMatchObject({ ok: true, result: { holder: 'second' } });
    expect((second as { result: { token: number } }).result.token).toBeGreaterThan(t1);
    const renew = await ca.call('lock.renew', { team: 'devops', operation: 'expiry_test', token: t1, ttlSec: 60 });
    expect(errCode(renew)).toBe('FENCED');
  });
});

describe('consensus and leadership across sidecars', () => {
  it('approves with 2 of 3 yes votes; the unhealthy sidecar votes no and says why', async () => {
    const ca = await rpc('a');
    const r = await ca.call('consensus.request', { team: 'devops', operation: 'blue_green_switch', target: 'green', timeoutSec: 20 });
    expect(r).toMatchObject({ ok: true, result: { approved: true, quorum: 2, participants: 3 } });
    const votes = (r as { result: { votes: Array<{ voter: string; approve: boolean; reason: string }> } }).result.votes;
    expect(votes.filter((v) => v.approve).length).toBeGreaterThanOrEqual(2);
    const fromC = votes.find((v) => v.voter === ids.c);
    if (fromC) {
      expect(fromC.approve).toBe(false);
      expect(fromC.reason).toMatch(/haproxy/);
    }
  });

  it('a second sidecar may not take a live leader lease; after kill -9 of the leader it takes over within one lease period', async () => {
    const [ca, cb] = await Promise.all([rpc('a'), rpc('b')]);
    const lead = await ca.call('leadership.establish', { team: 'devops', leaseSec: LEASE_SEC });
    expect(lead).toMatchObject({ ok: true, result: { leader: ids.a, isLeader: true, scope: 'team:devops' } });
    const oldToken = (lead as { result: { token: number } }).result.token;
    const refused = await cb.call('leadership.establish', { team: 'devops', leaseSec: LEASE_SEC });
    expect(errCode(refused)).toBe('NOT_LEADER');
    expect(!refused.ok && refused.error.message).toContain(`instance ${ids.a} leads team:devops`);

    await sc.a!.kill();
    const killedAt = Date.now();
    let took: RpcReply = refused;
    // Bounded by the property under test: one lease period (plus one heartbeat of slack).
    while (Date.now() - killedAt < LEASE_SEC * 1000 + 1_000) {
      took = await cb.call('leadership.establish', { team: 'devops', leaseSec: LEASE_SEC });
      if (took.ok) break;
      await sleep(150);
    }
    expect(took).toMatchObject({ ok: true, result: { leader: ids.b, isLeader: true } });
    expect((took as { result: { token: number } }).result.token).toBeGreaterThan(oldToken);
  });

  it('denies as soon as 2 of 3 vote no, with every reason', async () => {
    sc.a = await start('a'); // back, healthy
    await haproxyB.stop(); // B's HAProxy is gone: B now votes no from its own probe
    const ca = await rpc('a');
    const r = await ca.call('consensus.request', { team: 'devops', operation: 'blue_green_switch', target: 'blue', timeoutSec: 60 });
    expect(r).toMatchObject({ ok: true, result: { approved: false, quorum: 2, participants: 3 } });
    const result = (r as { result: { reason: string; votes: Array<{ voter: string; approve: boolean; reason: string }> } }).result;
    const no = result.votes.filter((v) => !v.approve);
    expect(no.map((v) => v.voter).sort()).toEqual([ids.b, ids.c].sort());
    for (const v of no) expect(v.reason).toMatch(/dependencies unhealthy: haproxy/);
    expect(result.reason).not.toMatch(/timed? ?out/i);
  });

  it('denies on timeout when the others are live but do not answer', async () => {
    const ca = await rpc('a');
    sc.b!.child.kill('SIGSTOP');
    sc.c!.child.kill('SIGSTOP');
    let r: RpcReply;
    try {
      r = await ca.call('consensus.request', { team: 'devops', operation: 'timeout_probe', timeoutSec: 2 });
    } finally {
      sc.b!.child.kill('SIGCONT');
      sc.c!.child.kill('SIGCONT');
    }
    expect(r).toMatchObject({ ok: true, result: { approved: false, participants: 3, quorum: 2 } });
    const result = (r as { result: { reason: string; votes: Array<{ voter: string }> } }).result;
    expect(result.reason).toMatch(/time/i);
    expect(result.votes.map((v) => v.voter)).toEqual([ids.a]);
  });
});

describe('graceful stop', () => {
  it('SIGTERM exits 0 and releases its leader lease and its place among the participants at once', async () => {
    const ca = await rpc('a');
    expect(await ca.call('leadership.establish', { team: 'payments', leaseSec: 60 })).toMatchObject({ ok: true, result: { leader: ids.a } });
    expect(await observer.leadership.current('team:payments')).toMatchObject({ leader: ids.a });
    expect(await sc.a!.stop(40_000)).toBe(0);
    expect(await observer.leadership.current('team:payments')).toBeNull();
    expect((await observer.participants.live(60)).map((p) => p.instanceId)).not.toContain(ids.a);
  });
});

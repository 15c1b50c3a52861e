/**
 * The real-process half of bench/consensus.ts: N `jenkins-sidecar` processes
 * (the built binary) on one PostgreSQL, each voting by itself through its own
 * Voter (LISTEN on proposals, judged from its local facts); one of them is
 * asked `consensus.request` over WebSocket. Round trips are counted on the
 * server (pg_stat_statements), since the statements come from other processes.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Client } from 'pg';
import { RpcConnection } from '../agent/src/rpc/client';
import { startSidecarProcess, type SidecarProcess } from '../test/support/sidecar-process';
import { setTimeout as sleep } from 'node:timers/promises';

/** Statements executed by every backend so far, our own reads of the view excepted (utility statements such as LISTEN, BEGIN, COMMIT included). */
export async function serverStatements(admin: Client): Promise<number> {
  const r = await admin.query<{ n: string }>("SELECT coalesce(sum(calls), 0)::text AS n FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%'");
  return Number(r.rows[0]!.n);
}

/** Resident set of a process, from /proc (MiB). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

export interface SidecarRun {
  ms: number[];
  /** Statements per decision as counted, and with the idle background (heartbeats, sweeps) of the same sidecars taken off. */
  perDecision: number;
  perDecisionNet: number;
  backgroundPerSec: number;
  rss: number[];
  /** Client connections the N sidecars held on the server right after the rounds. */
  connections: number;
}


async function startAll(url: string, n: number, secret: string): Promise<SidecarProcess[]> {
  const started: SidecarProcess[] = [];
  try {
    // Two at a time: ten node processes booting at once on 2 cores only time out.
    for (let i = 0; i < n; i += 2) {
      const batch = Array.from({ length: Math.min(2, n - i) }, (_, k) =>
        startSidecarProcess({
          databaseUrl: url,
          tokens: [{ id: 'ops', teams: ['*'], secret }],
          instanceId: `bench-sc-n${n}-${i + k}-${randomBytes(3).toString('hex')}`,
          env: { SIDECAR_HEARTBEAT_SEC: '2', SIDECAR_LIVE_WITHIN_SEC: '30', SIDECAR_SHUTDOWN_GRACE_SEC: '3' },
          startTimeoutMs: 90_000,
        }),
      );
      const res = await Promise.allSettled(batch);
      for (const r of res) if (r.status === 'fulfilled') started.push(r.value);
      const failed = res.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
    return started;
  } catch (err) {
    await Promise.all(started.map((s) => s.stop().catch(() => undefined)));
    throw err;
  }
}

async function decide(conn: RpcConnection): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await conn.call('consensus.request', { team: 'bench', operation: 'bench_probe', timeoutSec: 30 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (!r.ok) throw new Error(`consensus.request failed: ${r.error.message}`);
  const res = r.result as { approved: boolean; reason: string; participants: number };
  if (!res.approved) throw new Error(`round not approved: ${res.reason}`);
  return ms;
}

/** Waits (bounded) until every one of `ids` has a live heartbeat row, so each round's electorate is exactly these N. */
async function awaitLive(admin: Client, ids: string[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await admin.query<{ n: string }>('SELECT count(*)::text AS n FROM participants WHERE instance_id = ANY($1::text[])', [ids]);
    if (Number(r.rows[0]!.n) === ids.length) return;
    await sleep(200);
  }
  throw new Error(`not all ${ids.length} sidecars heartbeated within 20 s`);
}

/** Starts N sidecars, runs up to `rounds` decisions (within `timeLimitMs`), stops them all. */
export async function runSidecars(admin: Client, url: string, n: number, rounds: number, timeLimitMs: number): Promise<SidecarRun> {
  const secret = randomBytes(24).toString('hex');
  // The electorate is the live participants: nobody but these N may be live.
  await admin.query('DELETE FROM participants');
  const procs = await startAll(url, n, secret);
  let conn: RpcConnection | null = null;
  try {
    await awaitLive(admin, procs.map((p) => p.instanceId));
    conn = await RpcConnection.open(procs[0]!.rpcUrl, secret);
    await decide(conn); // warm-up: pools, plans, the voters' first sweep
    const idleStart = await serverStatements(admin);
    const idleT = Date.now();
    await sleep(3_000);
    const backgroundPerSec = ((await serverStatements(admin)) - idleStart) / ((Date.now() - idleT) / 1000);
    const before = await serverStatements(admin);
    const t0 = Date.now();
    const ms: number[] = [];
    for (let r = 0; r < rounds && Date.now() - t0 < timeLimitMs; r++) ms.push(await decide(conn));
    const elapsedSec = (Date.now() - t0) / 1000;
    const counted = (await serverStatements(admin)) - before;
    const rss = procs.map((p) => rssMiB(p.pid));
    const c = await admin.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
    return { ms, perDecision: counted / ms.length, perDecisionNet: (counted - backgroundPerSec * elapsedSec) / ms.length, backgroundPerSec, rss, connections: Number(c.rows[0]!.n) };
  } finally {
    await conn?.close().catch(() => undefined);
    await Promise.all(procs.map((p) => p.stop().catch(() => undefined)));
  }
}

/**
 * Consensus decisions with N participants (3, 10, 50) as in-process voters
 * sharing one throwaway embedded PostgreSQL: every participant heartbeats, one
 * proposes, all vote at once (each through one of a few stores, as sidecars of
 * one host would), the proposer waits on LISTEN for the decision. Printed per N:
 * decision latency (propose → decided, p50 / max over the rounds) and database
 * round trips per decision (statements sent by every store, counted on pg's
 * Client.prototype.query, the LISTEN connection included), beside
 * the floor of the same run: one committed one-row INSERT. Goal: a decision
 * within 1 s at N = 50. Then, in the same run and database, N = 3 and 10 REAL
 * `jenkins-sidecar` processes (bench/_consensus-sidecars.ts): each votes by
 * itself, one is asked `consensus.request` over WebSocket; their statements
 * are counted on the server (pg_stat_statements, loaded by a restart of the
 * embedded server), the in-process rows get that count too; sizes 3, 10, 20,
 * 50 unless told otherwise. The last line says what a larger N would run out
 * of first (RSS, connections, cores). Bounded in rounds and time; every
 * process is stopped at the end.
 *
 *   npm run build && node build/bench/consensus.js [rounds] [sidecar process sizes, default 3,10,20,50]
 */
import { appendFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../agent/src/store/embedded-postgres';
import { createPgStore, type PgStore } from '../agent/src/store';
import { runSidecars, serverStatements } from './_consensus-sidecars';

const ROUNDS = Math.max(3, Math.min(200, Number(process.argv[2] ?? 20)));
const SIZES = [3, 10, 50];
/** Real-process sizes; the second argument (e.g. `3,10,20,50`) overrides them, each at most 50. */
const PROCESS_SIZES = (process.argv[3] ?? '3,10,20,50').split(',').map(Number).filter((n) => Number.isInteger(n) && n >= 2 && n <= 50);
/** The embedded server's max_connections (agent/src/store/embedded-postgres.ts); a sidecar's pool may take up to 10 plus its LISTEN connection. */
const MAX_CONNECTIONS = 300;
/** Voters share this many stores (each store: a pool and a LISTEN connection). */
const STORES = 6;
const TIME_LIMIT_MS = 60_000;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Statements sent by any pg client of this process (wrapped before any store exists). */
let statements = 0;
function countStatements(): void {
  const original = Client.prototype.query;
  Client.prototype.query = function counted(this: Client, ...args: unknown[]) {
    statements += 1;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
}

async function round(stores: PgStore[], voters: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  const proposer = stores[0]!;
  const { proposalId } = await proposer.consensus.propose({
    operation: 'blue_green_switch',
    team: 'bench',
    details: {},
    proposer: voters[0]!,
    timeoutSec: 30,
    actor: { tokenId: 'bench', instanceId: voters[0]! },
  });
  const decided = proposer.consensus.awaitDecision(proposalId);
  await Promise.all(voters.map((v, i) => stores[i % stores.length]!.consensus.vote(proposalId, { voter: v, approve: true, reason: 'healthy' }).catch(() => undefined)));
  const d = await decided;
  if (!d.approved) throw new Error(`round not approved: ${d.reason}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function main(): Promise<void> {
  countStatements();
  const dir = mkdtempSync(join(tmpdir(), 'jsm-bench-consensus-'));
  chmodSync(dir, 0o711); // the embedded PostgreSQL runs as `postgres` when we are root
  // pg_stat_statements counts every backend's statements on the server; it must be preloaded, hence init, stop, restart.
  const first = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  await first.stop();
  appendFileSync(join(dir, 'pg', 'postgresql.auto.conf'), "shared_preload_libraries = 'pg_stat_statements'\n");
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  const stores: PgStore[] = [];
  const admin = new Client({ connectionString: pg.url });
  try {
    for (let i = 0; i < STORES; i++) stores.push(await createPgStore({ connectionString: pg.url, instanceId: `bench-store-${i}`, poolMax: 4, liveWithinSec: 600 }));
    await admin.connect();
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    // Floor: one committed one-row write, the least a durable vote can cost.
    await admin.query('CREATE TABLE IF NOT EXISTS bench_floor (id serial PRIMARY KEY, v int)');
    const floorMs: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = process.hrtime.bigint();
      await admin.query('INSERT INTO bench_floor (v) VALUES ($1::int)', [i]);
      floorMs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const floor = pct(floorMs, 50);
    console.log(`floor: one committed one-row INSERT, p50 ${floor.toFixed(2)} ms`);
    const rows: Array<{ metric: string; ours: number; baseline: number; unit: string }> = [];
    const deadline = Date.now() + TIME_LIMIT_MS;
    for (const n of SIZES) {
      const voters = Array.from({ length: n }, (_, i) => `bench-n${n}-v${i}`);
      // The electorate is the live participants at proposal time: the previous size's voters leave first.
      await admin.query("DELETE FROM participants WHERE instance_id LIKE 'bench-n%'");
      await Promise.all(voters.map((v, i) => stores[i % stores.length]!.participants.heartbeat(v, 90)));
      await round(stores, voters); // warm-up: pools and plans
      const before = statements;
      const serverBefore = await serverStatements(admin);
      const ms: number[] = [];
      for (let r = 0; r < ROUNDS && Date.now() < deadline; r++) ms.push(await round(stores, voters));
      const perDecision = (statements - before) / ms.length;
      const serverPer = ((await serverStatements(admin)) - serverBefore) / ms.length;
      console.log(`in-process N = ${String(n).padStart(2)}: ${ms.length} decisions, latency p50 ${pct(ms, 50).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms; ${perDecision.toFixed(1)} round trips per decision (client), ${serverPer.toFixed(1)} statements (server)`);
      rows.push({ metric: `consensus decision latency p50, N = ${n} (in-process voters, one database)`, ours: pct(ms, 50), baseline: floor, unit: 'ms (baseline: one committed INSERT)' });
      rows.push({ metric: `consensus decision latency max, N = ${n}`, ours: Math.max(...ms), baseline: 1000, unit: 'ms (baseline: the 1 s goal)' });
      rows.push({ metric: `database round trips per decision, N = ${n}`, ours: perDecision, baseline: n + 1, unit: 'round trips (baseline: one per vote + the proposal)' });
    }
    await Promise.all(stores.splice(0).map((s) => s.close().catch(() => undefined)));
    rows.push(...(await processRows(admin, pg.url, floor)));
    console.log(`BENCH_JSON ${JSON.stringify({ rows })}`);
  } finally {
    await admin.end().catch(() => undefined);
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Row = { metric: string; ours: number; baseline: number; unit: string };

/** The real-process cases; stops at the first N that does not start (memory, CPU) and says so. */
async function processRows(admin: Client, url: string, floor: number): Promise<Row[]> {
  const rows: Row[] = [];
  let perSidecar = 0;
  let connsPerSidecar = 0;
  let lastP50 = 0;
  let lastN = 0;
  for (const n of PROCESS_SIZES) {
    let run;
    try {
      run = await runSidecars(admin, url, n, ROUNDS, TIME_LIMIT_MS);
    } catch (err) {
      console.log(`sidecar processes N = ${n}: stopped here: ${(err as Error).message.split('\n')[0]}`);
      break;
    }
    const { ms } = run;
    const total = run.rss.reduce((a, b) => a + b, 0);
    perSidecar = Math.max(...run.rss);
    connsPerSidecar = run.connections / n;
    lastP50 = pct(ms, 50);
    lastN = n;
    console.log(
      `sidecar processes N = ${String(n).padStart(2)}: ${ms.length} decisions, latency p50 ${pct(ms, 50).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms; ` +
        `${run.perDecision.toFixed(1)} statements per decision (server), ${run.perDecisionNet.toFixed(1)} without the idle background of ${run.backgroundPerSec.toFixed(1)} statements/s; ` +
        `sidecar RSS ${total.toFixed(0)} MiB in all, ${perSidecar.toFixed(0)} MiB the largest; ${run.connections} database connections held`,
    );
    rows.push({ metric: `consensus decision latency p50, N = ${n} (sidecar processes, consensus.request)`, ours: pct(ms, 50), baseline: floor, unit: 'ms (baseline: one committed INSERT)' });
    rows.push({ metric: `consensus decision latency max, N = ${n} (sidecar processes)`, ours: Math.max(...ms), baseline: 1000, unit: 'ms (baseline: the 1 s goal)' });
    rows.push({ metric: `statements per decision on the server, N = ${n} (sidecar processes, idle background off)`, ours: run.perDecisionNet, baseline: n + 1, unit: 'statements (baseline: one per vote + the proposal)' });
    rows.push({ metric: `sidecar RSS, all N = ${n} processes`, ours: total, baseline: perSidecar, unit: 'MiB (baseline: the largest one)' });
  }
  if (lastN > 0) {
    // What would stop a larger N first, from this run's figures: memory, the server's connections, or the 2 cores.
    console.log(
      `sidecar processes, largest N run = ${lastN}: memory ${((lastN * perSidecar) / 1024).toFixed(1)} GiB RSS of ${(freemem() / 2 ** 30).toFixed(1)} GiB still free; ` +
        `connections ${Math.round(lastN * connsPerSidecar)} held of max_connections ${MAX_CONNECTIONS} (${connsPerSidecar.toFixed(1)} per sidecar; pools at their max of 10 each would need ${lastN * 11}); ` +
        `CPU: ${lastN} node processes and the database on ${cpus().length} cores, decision p50 ${lastP50.toFixed(0)} ms (goal 1000 ms)`,
    );
  }
  return rows;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

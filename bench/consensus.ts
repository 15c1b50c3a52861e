/**
 * Consensus decisions with N participants (3, 10, 50) as in-process voters
 * sharing one throwaway embedded PostgreSQL: every participant heartbeats, one
 * proposes, all vote at once (each through one of a few stores, as sidecars of
 * one host would), the proposer waits on LISTEN for the decision. Printed per N:
 * decision latency (propose → decided, p50 / max over the rounds) and database
 * round trips per decision (statements sent by every store, counted on pg's
 * Client.prototype.query, the LISTEN connection included), beside
 * the floor of the same run: one committed one-row INSERT. Goal: a decision
 * within 1 s at N = 50. Bounded in rounds and time. Real sidecar processes per
 * participant are not run here (50 processes do not fit this 2-core machine
 * beside the database); bench/load.ts drives real sidecar processes.
 *
 *   npm run build && node build/bench/consensus.js [rounds]
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../agent/src/db/embedded-postgres';
import { createPgStore, type PgStore } from '../agent/src/store';

const ROUNDS = Math.max(3, Math.min(200, Number(process.argv[2] ?? 20)));
const SIZES = [3, 10, 50];
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
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  const stores: PgStore[] = [];
  const admin = new Client({ connectionString: pg.url });
  try {
    for (let i = 0; i < STORES; i++) stores.push(await createPgStore({ connectionString: pg.url, instanceId: `bench-store-${i}`, poolMax: 4, liveWithinSec: 600 }));
    await admin.connect();
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
      const ms: number[] = [];
      for (let r = 0; r < ROUNDS && Date.now() < deadline; r++) ms.push(await round(stores, voters));
      const perDecision = (statements - before) / ms.length;
      console.log(`N = ${String(n).padStart(2)}: ${ms.length} decisions, latency p50 ${pct(ms, 50).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms; ${perDecision.toFixed(1)} database round trips per decision`);
      rows.push({ metric: `consensus decision latency p50, N = ${n} (in-process voters, one database)`, ours: pct(ms, 50), baseline: floor, unit: 'ms (baseline: one committed INSERT)' });
      rows.push({ metric: `consensus decision latency max, N = ${n}`, ours: Math.max(...ms), baseline: 1000, unit: 'ms (baseline: the 1 s goal)' });
      rows.push({ metric: `database round trips per decision, N = ${n}`, ours: perDecision, baseline: n + 1, unit: 'round trips (baseline: one per vote + the proposal)' });
    }
    console.log(`BENCH_JSON ${JSON.stringify({ rows })}`);
  } finally {
    await admin.end().catch(() => undefined);
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

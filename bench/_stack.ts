import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../agent/src/store/embedded-postgres';
import { startSidecarProcess, type SidecarProcess, type TokenSpec } from '../test/support/sidecar-process';

/**
 * Shared by bench/rpc.ts and bench/load.ts (the leading `_` keeps
 * scripts/bench.mjs from running it as a benchmark): a throwaway PostgreSQL
 * plus a real jenkins-sidecar process, percentiles, RSS, the BENCH_JSON line.
 */
export interface BenchStack {
  pg: EmbeddedPostgresHandle;
  sidecar: SidecarProcess;
  stop(): Promise<void>;
}

export async function startBenchStack(tokens: TokenSpec[], env: Record<string, string> = {}, teamsYaml?: string): Promise<BenchStack> {
  const dir = mkdtempSync(join(tmpdir(), 'jsm-bench-'));
  chmodSync(dir, 0o711);
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  let sidecar: SidecarProcess;
  try {
    sidecar = await startSidecarProcess({ databaseUrl: pg.url, tokens, env, ...(teamsYaml ? { teamsYaml } : {}) });
  } catch (err) {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    pg,
    sidecar,
    async stop() {
      await sidecar.stop();
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Percentile of an unsorted list of numbers (nearest rank). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Resident set size of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export function machineLine(): string {
  return `machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}`;
}

export interface BenchRow {
  metric: string;
  ours: number;
  baseline: number | null;
  unit: string;
}

export function printBenchJson(rows: BenchRow[]): void {
  const clean = rows.map((r) => ({ ...r, ours: Number.isFinite(r.ours) ? Number(r.ours.toFixed(3)) : r.ours, baseline: r.baseline === null ? null : Number(r.baseline.toFixed(3)) }));
  process.stdout.write(`BENCH_JSON ${JSON.stringify({ rows: clean })}\n`);
}

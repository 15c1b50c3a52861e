import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { startEmbeddedPostgres } from '../agent/src/store/embedded-postgres';
import { createPgStore, type PgStore } from '../agent/src/store';
import { makeTestTeam, type TestTeam } from '../test/support/docker-teams';
import { machineLine, printBenchJson, type BenchRow } from './_stack';

/**
 * Shared by the benchmarks that run stand-in controllers on the real Docker
 * engine (the leading `_` keeps scripts/bench.mjs from running it): a scratch
 * directory, a throwaway PostgreSQL and its store, a random test team; the
 * rows the benchmark pushes are printed after everything is cleaned up.
 */
export interface DockerBench {
  docker: Docker;
  /** Scratch directory, removed at the end. */
  dir: string;
  store: PgStore;
  t: TestTeam;
  rows: BenchRow[];
}

export interface DockerBenchNames {
  /** Scratch directory name prefix (`jsm-bench-env-`). */
  dirPrefix: string;
  instanceId: string;
  teamPrefix: string;
}

async function runOnce(names: DockerBenchNames, body: (b: DockerBench) => Promise<void>): Promise<void> {
  const docker = new Docker();
  const dir = mkdtempSync(join(tmpdir(), names.dirPrefix));
  chmodSync(dir, 0o711); // the embedded PostgreSQL runs as `postgres` and must traverse it
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  const store = await createPgStore({ connectionString: pg.url, instanceId: names.instanceId });
  const t = await makeTestTeam({ prefix: names.teamPrefix });
  const rows: BenchRow[] = [];
  try {
    await body({ docker, dir, store, t, rows });
    console.log(machineLine());
  } finally {
    await t.cleanup(docker);
    await store.close();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  printBenchJson(rows);
}

/** Runs a Docker benchmark as a script: exits 1 with the error when it fails. */
export function runDockerBench(names: DockerBenchNames, body: (b: DockerBench) => Promise<void>): void {
  runOnce(names, body).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

/**
 * Lock acquire+release pairs per second through the full path (a persistent
 * WebSocket JSON-RPC client → sidecar process → PostgreSQL, audit included)
 * beside raw `pg_advisory_lock`/`pg_advisory_unlock` pairs on the same database
 * in the same run, and the sidecar's resident memory. Bounded in count and time.
 * A second baseline is the floor for any durable lock: two committed one-row writes
 * (advisory locks are held in memory and never wait for a WAL flush).
 * In-process rows show where the time goes: the store's lock calls alone, with each
 * call's audit row as a transaction of its own (how the dispatcher wrote it before),
 * and with the row in the lock change's transaction (how lock calls write it now).
 *
 *   npm run build && node build/bench/locks.js [pairs]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort, startEmbeddedPostgres } from '../agent/src/store/embedded-postgres';
import { RpcConnection } from '../agent/src/rpc/client';
import { createPgStore } from '../agent/src/store';
import type { AuditEntry } from '../agent/src/store/contract';
import { sha256Hex } from '../agent/src/rpc/token-auth';

const PAIRS = Math.max(10, Math.min(100_000, Number(process.argv[2] ?? 2_000)));
const TIME_LIMIT_MS = 20_000;
const SIDECAR = join(__dirname, '..', 'agent', 'src', 'bin', 'jenkins-sidecar.js');

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return line ? Number(line.replace(/\D+/g, '')) / 1024 : NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'jsm-bench-locks-'));
  chmodSync(dir, 0o711); // the embedded PostgreSQL runs as `postgres` when we are root
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  const secret = `bench_${randomBytes(16).toString('hex')}`;
  writeFileSync(join(dir, 'tokens.yml'), `tokens:\n  - id: bench\n    sha256: ${sha256Hex(secret)}\n    teams: ["*"]\n`, { mode: 0o600 });
  const port = await freePort();
  const child = spawn(process.execPath, [SIDECAR], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      SIDECAR_LISTEN: `127.0.0.1:${port}`,
      SIDECAR_DATABASE_URL: pg.url,
      SIDECAR_DATA_DIR: join(dir, 'data'),
      SIDECAR_TOKENS_FILE: join(dir, 'tokens.yml'),
      SIDECAR_INSTANCE_ID: 'bench-locks',
      SIDECAR_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`sidecar exited: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`sidecar not healthy after 60 s: ${stderr}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const rssIdle = rssMiB(child.pid!);

    // Full path: one persistent WebSocket, sequential acquire+release pairs.
    const rpc = await RpcConnection.open(`ws://127.0.0.1:${port}/rpc`, secret);
    for (let i = 0; i < 20; i++) {
      await rpc.call('lock.acquire', { team: 'bench', operation: 'warmup', ttlSec: 60 });
      await rpc.call('lock.release', { team: 'bench', operation: 'warmup' });
    }
    let rpcPairs = 0;
    const t0 = process.hrtime.bigint();
    const stopAt = Date.now() + TIME_LIMIT_MS;
    while (rpcPairs < PAIRS && Date.now() < stopAt) {
      const got = await rpc.call('lock.acquire', { team: 'bench', operation: 'blue_green_switch', ttlSec: 60 });
      if (!got.ok) throw new Error(`lock.acquire failed: ${got.error.message}`);
      const rel = await rpc.call('lock.release', { team: 'bench', operation: 'blue_green_switch', token: (got.result as { token: number }).token });
      if (!rel.ok) throw new Error(`lock.release failed: ${rel.error.message}`);
      rpcPairs++;
    }
    const rpcSec = Number(process.hrtime.bigint() - t0) / 1e9;
    const rssAfter = rssMiB(child.pid!);
    await rpc.close();

    // Baseline: the cheapest lock PostgreSQL has, on the same server and database, same client count.
    const pgClient = new Client({ connectionString: pg.url });
    await pgClient.connect();
    let pgPairs = 0;
    const t1 = process.hrtime.bigint();
    const stopAt2 = Date.now() + TIME_LIMIT_MS;
    while (pgPairs < PAIRS && Date.now() < stopAt2) {
      await pgClient.query('SELECT pg_advisory_lock($1::bigint)', [42]);
      await pgClient.query('SELECT pg_advisory_unlock($1::bigint)', [42]);
      pgPairs++;
    }
    const pgSec = Number(process.hrtime.bigint() - t1) / 1e9;
    // The floor for a DURABLE lock: advisory locks live in memory and write nothing, while a
    // lease row must be committed (a WAL flush) on acquire and on release. One-row INSERT and
    // DELETE, each its own transaction, on a plain table of the same database.
    await pgClient.query('CREATE TABLE bench_durable_floor (k int PRIMARY KEY, v text)');
    let floorPairs = 0;
    const t5 = process.hrtime.bigint();
    const stopAt6 = Date.now() + TIME_LIMIT_MS;
    while (floorPairs < PAIRS && Date.now() < stopAt6) {
      await pgClient.query('INSERT INTO bench_durable_floor (k, v) VALUES ($1::int, $2::text)', [1, 'bench']);
      await pgClient.query('DELETE FROM bench_durable_floor WHERE k = $1::int', [1]);
      floorPairs++;
    }
    const floorSec = Number(process.hrtime.bigint() - t5) / 1e9;
    await pgClient.end();

    // Context: the same store calls in-process (no WebSocket), to show where the time goes:
    // without audit, with the row as its own transaction (the old RPC path), with the row in
    // the lock change's transaction (the RPC path now). The three run in alternating blocks so
    // all see the same load from whatever else runs (a shared machine's load swings within seconds).
    const store = await createPgStore({ connectionString: pg.url, instanceId: 'bench-direct', poolMax: 2 });
    const actor = { tokenId: 'bench', instanceId: 'bench-direct' };
    const auditOf = (operationType: string): AuditEntry => ({ operationType, team: 'bench', initiatedBy: 'bench', status: 'SUCCESS', metadata: { bench: true }, actor });
    const lockPair = async (audit: 'none' | 'same'): Promise<void> => {
      const g = await store.locks.acquire({ team: 'bench', operation: 'direct', ttlSec: 60, waitSec: 0, owner: 'bench', actor, ...(audit === 'same' ? { audit: auditOf('lock.acquire') } : {}) });
      await store.locks.release({ team: 'bench', operation: 'direct', token: g.token, owner: 'bench', actor, ...(audit === 'same' ? { audit: auditOf('lock.release') } : {}) });
    };
    const separatePair = async (): Promise<void> => {
      const g = await store.locks.acquire({ team: 'bench', operation: 'direct', ttlSec: 60, waitSec: 0, owner: 'bench', actor });
      await store.audit.record(auditOf('lock.acquire'));
      await store.locks.release({ team: 'bench', operation: 'direct', token: g.token, owner: 'bench', actor });
      await store.audit.record(auditOf('lock.release'));
    };
    const modes = [
      { run: () => lockPair('none'), pairs: 0, ns: 0n },
      { run: separatePair, pairs: 0, ns: 0n },
      { run: () => lockPair('same'), pairs: 0, ns: 0n },
    ];
    const BLOCK = 50;
    const stopAt3 = Date.now() + TIME_LIMIT_MS;
    for (let block = 0; block < 10_000 && modes[0]!.pairs < PAIRS && Date.now() < stopAt3; block++) {
      for (const m of block % 2 ? [...modes].reverse() : modes) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < BLOCK; i++) await m.run();
        m.ns += process.hrtime.bigint() - t;
        m.pairs += BLOCK;
      }
    }
    const [plain, separate, same] = modes as [(typeof modes)[0], (typeof modes)[0], (typeof modes)[0]];
    const storePairs = plain.pairs;
    const storeSec = Number(plain.ns) / 1e9;
    const separatePairs = separate.pairs;
    const samePairs = same.pairs;
    const separateNs = separate.ns;
    const sameNs = same.ns;
    const separateSec = Number(separateNs) / 1e9;
    const sameSec = Number(sameNs) / 1e9;
    await store.close();
    console.log(`store calls in-process (no transport, no audit):                               ${storePairs} pairs in ${storeSec.toFixed(2)} s = ${(storePairs / storeSec).toFixed(0)} pairs/s`);
    console.log(`store calls in-process, audit row as its own transaction (the old path):       ${separatePairs} pairs in ${separateSec.toFixed(2)} s = ${(separatePairs / separateSec).toFixed(0)} pairs/s`);
    console.log(`store calls in-process, audit row in the lock's transaction (the RPC path now): ${samePairs} pairs in ${sameSec.toFixed(2)} s = ${(samePairs / sameSec).toFixed(0)} pairs/s`);

    const ours = rpcPairs / rpcSec;
    const baseline = pgPairs / pgSec;
    console.log(`lock acquire+release pairs through the sidecar (ws JSON-RPC, persistent client): ${rpcPairs} pairs in ${rpcSec.toFixed(2)} s = ${ours.toFixed(0)} pairs/s (${((rpcSec / rpcPairs) * 1000).toFixed(2)} ms/pair)`);
    console.log(`raw pg_advisory_lock/unlock pairs on the same database:                        ${pgPairs} pairs in ${pgSec.toFixed(2)} s = ${baseline.toFixed(0)} pairs/s`);
    console.log(`one-row INSERT + DELETE pairs, each committed (the floor for a durable lock):    ${floorPairs} pairs in ${floorSec.toFixed(2)} s = ${(floorPairs / floorSec).toFixed(0)} pairs/s`);
    console.log(`sidecar RSS: ${rssIdle.toFixed(1)} MiB idle, ${rssAfter.toFixed(1)} MiB after the run`);
    console.log(
      `BENCH_JSON ${JSON.stringify({
        rows: [
          { metric: 'lock acquire+release pairs/s (full path vs pg_advisory_lock)', ours, baseline, unit: 'pairs/s' },
          { metric: 'lock pairs/s: store in-process (no transport, no audit)', ours: storePairs / storeSec, baseline, unit: 'pairs/s' },
          { metric: 'lock pairs/s: full path vs two committed one-row writes (durable floor)', ours, baseline: floorPairs / floorSec, unit: 'pairs/s' },
          {
            metric: 'lock pairs/s in-process: audit row in the lock transaction (ours) vs as its own transaction (baseline)',
            ours: samePairs / sameSec,
            baseline: separatePairs / separateSec,
            unit: 'pairs/s',
          },
          { metric: 'sidecar RSS after the run', ours: rssAfter, baseline: rssIdle, unit: 'MiB (baseline: idle)' },
        ],
      })}`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        r(undefined);
      }, 20_000);
      child.once('exit', () => {
        clearTimeout(t);
        r(undefined);
      });
    });
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(`bench/locks: ${err.message}`);
  process.exit(1);
});

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../../agent/src/store/embedded-postgres';
import { pidAlive } from '../../agent/src/store/pid-alive';
import { eventually } from '../support/eventually';
import { tempDir } from '../support/sidecar-harness';
import { httpGet, RpcClient } from '../support/sidecar-process-rpc';
import { SIDECAR_BIN, spawnSidecarProcess, writeTokensFile, type SidecarChild } from '../support/sidecar-process';

/**
 * One sidecar per data directory, with the real binary and its embedded PostgreSQL: a second
 * `jenkins-sidecar` on a running one's SIDECAR_DATA_DIR exits at once with one line naming the
 * running one, and the first keeps its database; a server whose owner is alive is never taken
 * for an orphan; /healthz stops saying ok once the embedded database is gone.
 */
jest.setTimeout(120_000);

const dirs: string[] = [];
const children: SidecarChild[] = [];

afterAll(async () => {
  for (const c of children) await c.kill().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sidecarEnv(dir: string): { env: Record<string, string>; secret: string } {
  const tokensFile = join(dir, 'tokens.yaml');
  const secret = writeTokensFile(tokensFile, [{ id: 'ops', teams: ['*'] }])['ops']!;
  return {
    secret,
    env: {
      HOME: dir,
      SIDECAR_DATA_DIR: join(dir, 'data'),
      SIDECAR_TOKENS_FILE: tokensFile,
      SIDECAR_INSTANCE_ID: `lock-${randomBytes(3).toString('hex')}`,
      SIDECAR_LOG_LEVEL: 'warn',
      SIDECAR_SHUTDOWN_GRACE_SEC: '5',
    },
  };
}

/** Runs the binary to its exit (bounded): exit code and what it printed. */
function runToExit(env: Record<string, string>, limitMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [SIDECAR_BIN], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SIDECAR_LISTEN: '127.0.0.1:0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`the second jenkins-sidecar was still running after ${limitMs} ms:\n${stderr}`));
    }, limitMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      ok({ code, stderr });
    });
  });
}

const postmasterPid = (dataDir: string): number => Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);

it("a second jenkins-sidecar on a running one's data dir exits non-zero at once naming it; the first keeps its database", async () => {
  const dir = tempDir('jsm-datadir-');
  dirs.push(dir);
  const { env, secret } = sidecarEnv(dir);
  const first = await spawnSidecarProcess({ env, startTimeoutMs: 60_000 });
  children.push(first);
  const pgPid = postmasterPid(env.SIDECAR_DATA_DIR!);

  const second = await runToExit({ ...env, SIDECAR_INSTANCE_ID: 'intruder' }, 20_000);
  expect(second.code).not.toBe(0);
  const lines = second.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(`pid ${first.pid}`);
  expect(lines[0]).toContain(env.SIDECAR_INSTANCE_ID!);

  // The first one is untouched: same postmaster, its database answers, ready and healthy.
  expect(pidAlive(pgPid)).toBe(true);
  expect(postmasterPid(env.SIDECAR_DATA_DIR!)).toBe(pgPid);
  expect((await httpGet(`${first.httpUrl}/readyz`)).body).toContain('"postgres":{"status":"up"');
  const c = await RpcClient.connect(first.rpcUrl, secret);
  try {
    expect((await c.call('lock.list', {})).result).toEqual({ locks: [] });
  } finally {
    await c.close();
  }
  expect((await httpGet(`${first.httpUrl}/healthz`)).status).toBe(200);
});

it('/healthz answers 503 naming the embedded PostgreSQL once that server is gone', async () => {
  const dir = tempDir('jsm-datadir-');
  dirs.push(dir);
  const { env } = sidecarEnv(dir);
  const sc = await spawnSidecarProcess({ env, startTimeoutMs: 60_000 });
  children.push(sc);
  expect((await httpGet(`${sc.httpUrl}/healthz`)).status).toBe(200);
  process.kill(postmasterPid(env.SIDECAR_DATA_DIR!), 'SIGKILL');
  const health = await eventually('healthz to fail', async () => {
    const r = await httpGet(`${sc.httpUrl}/healthz`);
    return r.status === 200 ? null : r;
  }, 30_000);
  expect(health.status).toBe(503);
  expect(health.body).toMatch(/embedded PostgreSQL .*exited/);
});

it('a SIGKILLed sidecar frees its data dir: the next one starts there and stops the orphaned server', async () => {
  const dir = tempDir('jsm-datadir-');
  dirs.push(dir);
  const { env, secret } = sidecarEnv(dir);
  const first = await spawnSidecarProcess({ env, startTimeoutMs: 60_000 });
  const orphan = postmasterPid(env.SIDECAR_DATA_DIR!);
  await first.kill();
  expect(pidAlive(orphan)).toBe(true);
  const next = await spawnSidecarProcess({ env, startTimeoutMs: 60_000 });
  children.push(next);
  expect(pidAlive(orphan)).toBe(false);
  const c = await RpcClient.connect(next.rpcUrl, secret);
  try {
    expect((await c.call('lock.list', {})).result).toEqual({ locks: [] });
  } finally {
    await c.close();
  }
});

it('startEmbeddedPostgres never stops a server whose owner is alive', async () => {
  const dir = tempDir('jsm-pgowner-');
  dirs.push(dir);
  const dataDir = join(dir, 'pg');
  const running = await startEmbeddedPostgres({ dataDir });
  try {
    const err = await startEmbeddedPostgres({ dataDir }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toContain(`pid ${running.pid}`);
    expect(err?.message).toContain(`pid ${process.pid}`);
    const c = new Client({ connectionString: running.url });
    await c.connect();
    try {
      expect((await c.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
    } finally {
      await c.end();
    }
  } finally {
    await running.stop();
  }
});

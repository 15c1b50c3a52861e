import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveConfig } from '../../agent/src/config/sidecar-config';
import { freePort } from '../../agent/src/db/embedded-postgres';
import { createLogger } from '../../agent/src/logging/logger';
import { startSidecar, type SidecarHandle } from '../../agent/src/sidecar';
import { sha256Hex } from '../../agent/src/rpc/token-auth';

/**
 * Sidecars for integration tests: in-process (startTestSidecar) for protocol
 * and HTTP tests, or as real processes from build/ (spawnSidecar) for CLI,
 * signal and multi-sidecar tests — those need a fresh `npm run build`
 * (scripts/test.mjs builds before jest).
 */
export const ROOT = resolve(__dirname, '..', '..');
export const SIDECAR_BIN = join(ROOT, 'build', 'agent', 'src', 'bin', 'jenkins-sidecar.js');
export const SIDECARCTL_BIN = join(ROOT, 'build', 'agent', 'src', 'bin', 'sidecarctl.js');

export interface TestToken {
  id: string;
  teams: string[];
}

/** A temp dir the embedded PostgreSQL's `postgres` user can traverse (mkdtemp makes 0700). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o711);
  return d;
}

/** Writes a tokens file (mode 600) and returns the secret of each token by id. */
export function writeTokensFile(dir: string, tokens: TestToken[]): { path: string; secrets: Record<string, string> } {
  const secrets: Record<string, string> = {};
  const lines = ['tokens:'];
  for (const t of tokens) {
    const secret = `jsm_test_${t.id}_${randomBytes(16).toString('hex')}`;
    secrets[t.id] = secret;
    lines.push(`  - id: ${t.id}`, `    sha256: ${sha256Hex(secret)}`, `    teams: ${JSON.stringify(t.teams)}`);
  }
  const path = join(dir, 'tokens.yml');
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { path, secrets };
}

export const uniqueId = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

export interface InProcessSidecar {
  handle: SidecarHandle;
  secrets: Record<string, string>;
  dir: string;
  stop(): Promise<void>;
}

export async function startTestSidecar(opts: { databaseUrl: string; tokens: TestToken[]; env?: Record<string, string> }): Promise<InProcessSidecar> {
  const dir = tempDir('jsm-sidecar-');
  const { path, secrets } = writeTokensFile(dir, opts.tokens);
  const env = {
    SIDECAR_DATABASE_URL: opts.databaseUrl,
    SIDECAR_LISTEN: '127.0.0.1:0',
    SIDECAR_DATA_DIR: join(dir, 'data'),
    SIDECAR_TOKENS_FILE: path,
    SIDECAR_INSTANCE_ID: uniqueId('itest'),
    SIDECAR_SHUTDOWN_GRACE_SEC: '5',
    ...opts.env,
  };
  const { config, errors } = resolveConfig(env, { hostname: hostname(), homeDir: dir, isRoot: process.getuid?.() === 0, cwd: dir });
  if (!config) throw new Error(errors.join('; '));
  const log = createLogger({ level: 'error', instanceId: config.instanceId, silent: true });
  const handle = await startSidecar({ config, log });
  return {
    handle,
    secrets,
    dir,
    async stop() {
      await handle.stop('test over');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SpawnedSidecar {
  child: ChildProcess;
  port: number;
  rpcUrl: string;
  httpUrl: string;
  instanceId: string;
  output(): string;
  /** Sends `signal` and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts build/…/jenkins-sidecar.js with exactly `env` (plus PATH) and waits for /healthz. */
export async function spawnSidecar(env: Record<string, string>, timeoutMs = 90_000): Promise<SpawnedSidecar> {
  if (!existsSync(SIDECAR_BIN)) throw new Error(`${SIDECAR_BIN} is missing: run \`npm run build\` first (npm test does)`);
  // A caller may pin the port (SIDECAR_LISTEN=127.0.0.1:N); otherwise a free one.
  const pinned = /:(\d+)$/.exec(env.SIDECAR_LISTEN ?? '');
  const port = pinned ? Number(pinned[1]) : await freePort();
  const fullEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', SIDECAR_LISTEN: `127.0.0.1:${port}`, ...env };
  const child = spawn(process.execPath, [SIDECAR_BIN], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  let ready = false;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      const res = await fetch(`${httpUrl}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) {
        ready = true;
        break;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!ready) {
    child.kill('SIGKILL');
    throw new Error(`jenkins-sidecar did not become healthy on port ${port}:\n${out.slice(-3000)}`);
  }
  return {
    child,
    port,
    rpcUrl: `ws://127.0.0.1:${port}/rpc`,
    httpUrl,
    instanceId: env.SIDECAR_INSTANCE_ID ?? hostname(),
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs the built sidecarctl; resolves with exit code, stdout and stderr. */
export function runSidecarctl(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [SIDECARCTL_BIN, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A real haproxy with only a Runtime API socket and an idle frontend: enough for readiness and health facts. */
export async function startBareHaproxy(): Promise<{ socketPath: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'jsm-bare-haproxy-'));
  const socketPath = join(dir, 'admin.sock');
  const port = await freePort();
  const cfg = [
    'global',
    `  stats socket ${socketPath} mode 600 level admin`,
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 5s',
    '  timeout server 5s',
    'frontend idle',
    `  bind 127.0.0.1:${port}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'haproxy.cfg'), cfg);
  const child = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 10_000;
  while (!existsSync(socketPath)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not create ${socketPath}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socketPath,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { sha256Hex } from '../../agent/src/rpc/token-auth';
import { TEST_CONTROLLER_ENV } from './controller-files';

export { sha256Hex };

/**
 * A real `jenkins-sidecar` process (the built binary, as users run it) with a
 * temp data dir, a tokens file (mode 600) and optionally a teams file. The
 * listener is `127.0.0.1:0` unless told otherwise; the actual port is read
 * from the line the binary prints once it listens, so parallel test files
 * never race for a port. `wrap` prefixes the command (e.g. `ip netns exec h1`)
 * to run the sidecar as another host.
 */
/** The checkout: found upwards from here, so this also works compiled into build/ (bench scripts import it). */
export const REPO_ROOT = ((): string => {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'agent'))) return dir;
    dir = dirname(dir);
  }
  return resolve(__dirname, '..', '..');
})();
export const SIDECAR_BIN = join(REPO_ROOT, 'build', 'agent', 'src', 'bin', 'jenkins-sidecar.js');
export const SIDECARCTL_BIN = join(REPO_ROOT, 'build', 'agent', 'src', 'bin', 'sidecarctl.js');

export interface TokenSpec {
  id: string;
  teams: string[];
  /** Generated (48 hex chars) when absent. */
  secret?: string;
}

export interface SidecarProcessOptions {
  databaseUrl: string;
  tokens: TokenSpec[];
  /** YAML text of a teams file (`jenkins_teams:` list); none when absent. */
  teamsYaml?: string;
  instanceId?: string;
  /** SIDECAR_LISTEN; default 127.0.0.1:0. */
  listen?: string;
  /** Extra environment (SIDECAR_MAX_IN_FLIGHT_PER_TOKEN, SIDECAR_HEARTBEAT_SEC, ...). */
  env?: Record<string, string>;
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'h1']. */
  wrap?: string[];
  /** Where the temp files go; a fresh dir under the OS temp dir by default. */
  dir?: string;
  startTimeoutMs?: number;
}

/** A running `jenkins-sidecar` process, however it was configured. */
export interface SidecarChild {
  instanceId: string;
  port: number;
  httpUrl: string;
  rpcUrl: string;
  child: ChildProcess;
  pid: number;
  /** The process's stderr+stdout so far (last ~256 KB). */
  log(): string;
  exited(): boolean;
  /** SIGTERM, wait for exit (SIGKILL after `graceMs`); resolves with the exit code or signal. */
  stop(graceMs?: number): Promise<number | string | null>;
  /** SIGKILL (a crash); resolves when the process is gone. */
  kill(): Promise<void>;
}

export interface SidecarProcess extends SidecarChild {
  dir: string;
  dataDir: string;
  tokensFile: string;
  /** token id → secret. */
  secrets: Record<string, string>;
  /** As SidecarChild.stop, and removes the temp dir (unless the caller gave `dir`). */
  stop(graceMs?: number): Promise<number | string | null>;
  /** SIGKILL without cleanup of the dir (a crash); resolves when the process is gone. */
  kill(): Promise<void>;
}


export function writeTokensFile(path: string, tokens: TokenSpec[]): Record<string, string> {
  const secrets: Record<string, string> = {};
  const lines = ['tokens:'];
  for (const t of tokens) {
    const secret = t.secret ?? randomBytes(24).toString('hex');
    secrets[t.id] = secret;
    lines.push(`  - id: ${t.id}`, `    sha256: ${sha256Hex(secret)}`, `    teams: [${t.teams.map((x) => JSON.stringify(x)).join(', ')}]`);
  }
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return secrets;
}

const LOG_LIMIT = 256 * 1024;

export interface SpawnSidecarOptions {
  /** The binary's whole configuration: nothing is added but PATH and, when absent, SIDECAR_LISTEN=127.0.0.1:0. */
  env: Record<string, string>;
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'h1']. */
  wrap?: string[];
  /** Until the binary reports listening; default 30 s (an embedded PostgreSQL's first initdb wants more). */
  startTimeoutMs?: number;
}

/**
 * Spawns build/…/jenkins-sidecar.js with exactly `opts.env` and resolves once
 * it prints its `listening on` line (the port comes from that line, so port 0
 * needs no free-port guess). The one place a test or bench starts the binary.
 */
export async function spawnSidecarProcess(opts: SpawnSidecarOptions): Promise<SidecarChild> {
  if (!existsSync(SIDECAR_BIN)) throw new Error(`${SIDECAR_BIN} is missing: run \`npm run build\` first (npm test does)`);
  // The integration tests check every answer against its result schema (test/support/check-results.ts); benches do not.
  const checkResults: Record<string, string> = process.env.SIDECAR_CHECK_RESULTS ? { SIDECAR_CHECK_RESULTS: process.env.SIDECAR_CHECK_RESULTS } : {};
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', SIDECAR_LISTEN: '127.0.0.1:0', ...checkResults, ...opts.env };
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const argv = [...(opts.wrap ?? []), process.execPath, SIDECAR_BIN];
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const onData = (b: Buffer): void => {
    text += b.toString();
    if (text.length > LOG_LIMIT) text = text.slice(-LOG_LIMIT);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exitedP = new Promise<number | string | null>((r) => child.once('exit', (code, signal) => r(code ?? signal)));
  let hasExited = false;
  void exitedP.then(() => {
    hasExited = true;
  });
  const what = env.SIDECAR_INSTANCE_ID ?? 'jenkins-sidecar';

  const listening = await new Promise<{ instanceId: string; port: number }>((ok, fail) => {
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`jenkins-sidecar ${what} did not report listening within ${startTimeoutMs} ms:\n${text}`));
    }, startTimeoutMs);
    const check = (): void => {
      const m = /jenkins-sidecar: (\S+) listening on http:\/\/[^\s:]+:(\d+)/.exec(text);
      if (m) {
        clearTimeout(deadline);
        child.stderr?.off('data', check);
        ok({ instanceId: m[1]!, port: Number(m[2]) });
      }
    };
    child.stderr?.on('data', check);
    void exitedP.then((code) => {
      clearTimeout(deadline);
      fail(new Error(`jenkins-sidecar ${what} exited (${code}) before listening:\n${text}`));
    });
  });
  const host = (env.SIDECAR_LISTEN.split(':').slice(0, -1).join(':') || '127.0.0.1').replace(/^\[|\]$/g, '');
  const httpUrl = `http://${host}:${listening.port}`;
  return {
    instanceId: listening.instanceId,
    port: listening.port,
    httpUrl,
    rpcUrl: `ws://${host}:${listening.port}/rpc`,
    child,
    pid: child.pid ?? 0,
    log: () => text,
    exited: () => hasExited,
    async stop(graceMs = 10_000) {
      if (hasExited) return exitedP;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exitedP;
      clearTimeout(t);
      return code;
    },
    async kill() {
      if (!hasExited) child.kill('SIGKILL');
      await exitedP;
    },
  };
}

/** A sidecar on a given database with a tokens file and optionally a teams file, all in a temp dir (see the top of this file). */
export async function startSidecarProcess(opts: SidecarProcessOptions): Promise<SidecarProcess> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'jsm-sidecar-'));
  const removeDir = (): void => {
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  };
  // As root the embedded PostgreSQL would need o+x on the way; we always pass a database URL, but keep the dir traversable.
  chmodSync(dir, 0o711);
  const dataDir = join(dir, 'data');
  const tokensFile = join(dir, 'tokens.yaml');
  const secrets = writeTokensFile(tokensFile, opts.tokens);
  const env: Record<string, string> = {
    HOME: dir,
    SIDECAR_LISTEN: opts.listen ?? '127.0.0.1:0',
    SIDECAR_DATABASE_URL: opts.databaseUrl,
    SIDECAR_DATA_DIR: dataDir,
    SIDECAR_INSTANCE_ID: opts.instanceId ?? `sc-${randomBytes(4).toString('hex')}`,
    SIDECAR_TOKENS_FILE: tokensFile,
    SIDECAR_LOG_LEVEL: 'warn',
    ...TEST_CONTROLLER_ENV,
    ...opts.env,
  };
  if (opts.teamsYaml !== undefined) {
    const teamsFile = join(dir, 'teams.yaml');
    writeFileSync(teamsFile, opts.teamsYaml);
    env.SIDECAR_TEAMS_FILE = teamsFile;
  }
  let proc: SidecarChild;
  try {
    proc = await spawnSidecarProcess({ env, ...(opts.wrap ? { wrap: opts.wrap } : {}), ...(opts.startTimeoutMs !== undefined ? { startTimeoutMs: opts.startTimeoutMs } : {}) });
  } catch (err) {
    removeDir();
    throw err;
  }
  return {
    ...proc,
    dir,
    dataDir,
    tokensFile,
    secrets,
    async stop(graceMs?: number) {
      const code = await proc.stop(graceMs);
      removeDir();
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

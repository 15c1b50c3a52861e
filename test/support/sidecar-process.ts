import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

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

export interface SidecarProcess {
  instanceId: string;
  port: number;
  httpUrl: string;
  rpcUrl: string;
  dir: string;
  dataDir: string;
  tokensFile: string;
  /** token id → secret. */
  secrets: Record<string, string>;
  child: ChildProcess;
  pid: number;
  /** The process's stderr+stdout so far (last ~256 KB). */
  log(): string;
  exited(): boolean;
  /** SIGTERM, wait for exit (SIGKILL after `graceMs`); resolves with the exit code or signal. Removes the temp dir. */
  stop(graceMs?: number): Promise<number | string | null>;
  /** SIGKILL without cleanup of the dir (a crash); resolves when the process is gone. */
  kill(): Promise<void>;
}

export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

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

export async function startSidecarProcess(opts: SidecarProcessOptions): Promise<SidecarProcess> {
  if (!existsSync(SIDECAR_BIN)) throw new Error(`${SIDECAR_BIN} is missing: run \`npm run build\` first (npm test does)`);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'jsm-sidecar-'));
  // As root the embedded PostgreSQL would need o+x on the way; we always pass a database URL, but keep the dir traversable.
  chmodSync(dir, 0o711);
  const dataDir = join(dir, 'data');
  const tokensFile = join(dir, 'tokens.yaml');
  const secrets = writeTokensFile(tokensFile, opts.tokens);
  const instanceId = opts.instanceId ?? `sc-${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: dir,
    SIDECAR_LISTEN: opts.listen ?? '127.0.0.1:0',
    SIDECAR_DATABASE_URL: opts.databaseUrl,
    SIDECAR_DATA_DIR: dataDir,
    SIDECAR_INSTANCE_ID: instanceId,
    SIDECAR_TOKENS_FILE: tokensFile,
    SIDECAR_LOG_LEVEL: 'warn',
    ...opts.env,
  };
  if (opts.teamsYaml !== undefined) {
    const teamsFile = join(dir, 'teams.yaml');
    writeFileSync(teamsFile, opts.teamsYaml);
    env.SIDECAR_TEAMS_FILE = teamsFile;
  }
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

  const port = await new Promise<number>((ok, fail) => {
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`jenkins-sidecar ${instanceId} did not report listening within ${opts.startTimeoutMs ?? 30_000} ms:\n${text}`));
    }, opts.startTimeoutMs ?? 30_000);
    const check = (): void => {
      const m = / listening on http:\/\/[^\s:]+:(\d+)/.exec(text);
      if (m) {
        clearTimeout(deadline);
        child.stderr?.off('data', check);
        ok(Number(m[1]));
      }
    };
    child.stderr?.on('data', check);
    void exitedP.then((code) => {
      clearTimeout(deadline);
      fail(new Error(`jenkins-sidecar ${instanceId} exited (${code}) before listening:\n${text}`));
    });
  });
  const host = (env.SIDECAR_LISTEN.split(':').slice(0, -1).join(':') || '127.0.0.1').replace(/^\[|\]$/g, '');
  const httpUrl = `http://${host}:${port}`;
  const handle: SidecarProcess = {
    instanceId,
    port,
    httpUrl,
    rpcUrl: `ws://${host}:${port}/rpc`,
    dir,
    dataDir,
    tokensFile,
    secrets,
    child,
    pid: child.pid ?? 0,
    log: () => text,
    exited: () => hasExited,
    async stop(graceMs = 10_000) {
      if (!hasExited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const code = await exitedP;
        clearTimeout(t);
        if (!opts.dir) rmSync(dir, { recursive: true, force: true });
        return code;
      }
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
      return exitedP;
    },
    async kill() {
      if (!hasExited) child.kill('SIGKILL');
      await exitedP;
    },
  };
  return handle;
}

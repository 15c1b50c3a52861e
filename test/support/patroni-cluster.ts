import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../agent/src/store/embedded-postgres';
import { findPgBinDir, queryOnce } from './pg-replication';
import { crashPostmaster } from './crash-postmaster';
import { pidAlive } from '../../agent/src/store/pid-alive';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A real Patroni cluster on loopback: one etcd and two Patroni members, each
 * running its own PostgreSQL (Debian's server binaries). Patroni decides who is
 * primary; the test only kills. Everything lives in one temp dir; destroy()
 * kills what is left and removes it.
 *
 * Patroni facts used here are from patroni 3.0.2 (Debian `patroni`):
 * - YAML settings (docs/SETTINGS.rst, docs/dynamic_configuration.rst): `scope`, `namespace`,
 *   `name`, `restapi.listen`/`connect_address`, `etcd3.hosts`, `bootstrap.dcs.{ttl, loop_wait,
 *   retry_timeout, synchronous_mode}`, `postgresql.{listen, connect_address, data_dir, bin_dir,
 *   pgpass, authentication, pg_hba, parameters}`. A JSON document is valid YAML, so the
 *   config is written with JSON.stringify.
 * - The leader key lives `ttl` seconds in the DCS; a member that stops renewing it (killed) loses
 *   it after at most ttl, and a healthy replica takes it over on its next loop (`loop_wait`).
 *   docs/dynamic_configuration.rst: keep loop_wait + 2 × retry_timeout <= ttl (10 >= 1 + 2 × 3).
 * - REST `GET /cluster` (patroni/api.py do_GET_cluster → utils.cluster_as_json): `members[]` with
 *   `name`, `role` ('leader', 'sync_standby', 'replica'), `state`, `host`, `port`, `timeline`.
 * - REST `GET /primary` answers 200 only on the member that holds the leader key and runs as
 *   primary, 503 elsewhere (patroni/api.py RestApiHandler.do_GET, primary_status_code).
 */
const TTL = 10;
const LOOP_WAIT = 1;
const RETRY_TIMEOUT = 3;

export interface PatroniMember {
  name: string;
  pgPort: number;
  restPort: number;
  hostPort: string;
  dataDir: string;
  /** kill -9 of the Patroni process and of its PostgreSQL with every backend, as a host that dies. */
  kill(): void;
  killed(): boolean;
  log(): string;
}

export interface ClusterMember {
  name: string;
  role: string;
  state: string;
  timeline?: number;
  host?: string;
  port?: number;
}

export interface PatroniCluster {
  members: PatroniMember[];
  /** Members as Patroni's REST API reports them, asked of a member still alive. */
  cluster(): Promise<ClusterMember[]>;
  /** The member Patroni has as leader, once it runs as primary and (in synchronous mode) has a sync standby. */
  waitForLeader(opts?: { timeoutMs?: number; exclude?: string }): Promise<PatroniMember>;
  /** One query on the member's PostgreSQL. */
  query<T extends Record<string, unknown>>(m: PatroniMember, sql: string, params?: unknown[], db?: string): Promise<T[]>;
  destroy(): void;
}

/** Why a Patroni cluster cannot be started here, or null when it can. */
export function patroniUnavailable(): string | null {
  const missing = ['patroni', 'etcd'].filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0);
  if (missing.length) return `${missing.join(' and ')} not on PATH: apt-get install -y patroni etcd-server (scripts/ensure-env.mjs does it as root)`;
  if (!findPgBinDir()) return 'no PostgreSQL server binaries under /usr/lib/postgresql: apt-get install postgresql';
  return null;
}

const asRoot = process.getuid?.() === 0;
const idOf = (flag: '-u' | '-g'): number => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());

const alive = (pid: number | null | undefined): boolean => !!pid && pidAlive(pid);

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function launch(cmd: string, args: string[], logFile: string, asPostgres: boolean): ChildProcess {
  const fd = openSync(logFile, 'a');
  // PostgreSQL refuses to run as root: Patroni and its postmaster run as `postgres` then.
  const ids = asPostgres && asRoot ? { uid: idOf('-u'), gid: idOf('-g') } : {};
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, HOME: tmpdir(), LC_ALL: 'C.UTF-8' }, ...ids });
  closeSync(fd);
  child.on('error', () => undefined);
  return child;
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>, why: () => string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe().catch(() => null);
    if (got !== null) return got;
    if (Date.now() > until) throw new Error(`${what} not within ${timeoutMs} ms\n${why()}`);
    await sleep(250);
  }
}

async function startEtcd(root: string): Promise<{ proc: ChildProcess; clientPort: number; log: string }> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const log = join(root, 'etcd.log');
  const peer = `http://127.0.0.1:${peerPort}`;
  const client = `http://127.0.0.1:${clientPort}`;
  const proc = launch('etcd', [
    '--name', 'e1', '--data-dir', join(root, 'etcd'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `e1=${peer}`, '--initial-cluster-state', 'new',
    '--initial-cluster-token', `jsm-${randomBytes(4).toString('hex')}`,
  ], log, false);
  // etcd's /health answers {"health":"true"} once it has a raft leader.
  await poll('etcd healthy', 30_000, async () => {
    const r = await getJson(`${client}/health`);
    return (r.body as { health?: string }).health === 'true' ? true : null;
  }, () => tail(log));
  return { proc, clientPort, log };
}

function memberConfig(root: string, scope: string, name: string, pgPort: number, restPort: number, etcdPort: number, synchronous: boolean): object {
  return {
    scope,
    namespace: '/jsm-test/',
    name,
    restapi: { listen: `127.0.0.1:${restPort}`, connect_address: `127.0.0.1:${restPort}` },
    etcd3: { hosts: [`127.0.0.1:${etcdPort}`] },
    bootstrap: {
      dcs: {
        ttl: TTL,
        loop_wait: LOOP_WAIT,
        retry_timeout: RETRY_TIMEOUT,
        // synchronous_mode: the leader names a healthy replica in synchronous_standby_names and
        // only a synchronous standby may be promoted (docs/replication_modes.rst).
        synchronous_mode: synchronous,
        postgresql: { use_pg_rewind: false, parameters: { wal_level: 'replica', hot_standby: 'on', fsync: 'off' } },
      },
      initdb: [{ encoding: 'UTF8' }, { auth: 'trust' }],
    },
    postgresql: {
      listen: `127.0.0.1:${pgPort}`,
      connect_address: `127.0.0.1:${pgPort}`,
      data_dir: join(root, name),
      bin_dir: findPgBinDir(),
      pgpass: join(root, `${name}.pgpass`),
      authentication: {
        superuser: { username: 'postgres', password: 'postgres' },
        replication: { username: 'replicator', password: 'replicator' },
      },
      parameters: { unix_socket_directories: root },
      pg_hba: ['local all all trust', 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust'],
    },
  };
}

export async function startPatroniCluster(opts: { synchronousMode?: boolean } = {}): Promise<PatroniCluster> {
  const why = patroniUnavailable();
  if (why) throw new Error(why);
  const root = mkdtempSync(join(tmpdir(), 'jsm-patroni-'));
  if (asRoot) chownSync(root, idOf('-u'), idOf('-g'));
  const procs: ChildProcess[] = [];
  const members: PatroniMember[] = [];
  let etcdLog = '';
  const destroy = (): void => {
    for (const m of members) m.kill();
    for (const p of procs) if (alive(p.pid) && p.exitCode === null) p.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const etcd = await startEtcd(root);
    etcdLog = etcd.log;
    procs.push(etcd.proc);
    const scope = `jsm-${randomBytes(4).toString('hex')}`;
    for (const name of ['pg1', 'pg2']) {
      const pgPort = await freePort();
      const restPort = await freePort();
      const file = join(root, `${name}.yml`);
      writeFileSync(file, JSON.stringify(memberConfig(root, scope, name, pgPort, restPort, etcd.clientPort, opts.synchronousMode ?? false), null, 2));
      if (asRoot) chownSync(file, idOf('-u'), idOf('-g'));
      const logFile = join(root, `${name}.log`);
      const proc = launch('patroni', [file], logFile, true);
      procs.push(proc);
      members.push(member(name, pgPort, restPort, join(root, name), proc, logFile));
    }
    const cluster = clusterOf(members, opts.synchronousMode ?? false, () => tail(etcdLog));
    cluster.destroy = destroy;
    await cluster.waitForLeader({ timeoutMs: 60_000 });
    return cluster;
  } catch (err) {
    const logs = [`etcd: ${tail(etcdLog, 10)}`, ...members.map((m) => `${m.name}: ${m.log()}`)].join('\n');
    destroy();
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  }
}

function member(name: string, pgPort: number, restPort: number, dataDir: string, proc: ChildProcess, logFile: string): PatroniMember {
  let wasKilled = false;
  const postmasterPid = (): number | null => {
    const f = join(dataDir, 'postmaster.pid');
    return existsSync(f) ? Number(readFileSync(f, 'utf8').split('\n')[0]) : null;
  };
  return {
    name,
    pgPort,
    restPort,
    hostPort: `127.0.0.1:${pgPort}`,
    dataDir,
    kill() {
      wasKilled = true;
      // Patroni first, so nothing restarts PostgreSQL; then the postmaster with its backends
      // (crash-postmaster.ts).
      if (proc.exitCode === null && alive(proc.pid)) proc.kill('SIGKILL');
      const pid = postmasterPid();
      if (!alive(pid)) return;
      crashPostmaster(pid!);
    },
    killed: () => wasKilled,
    log: () => tail(logFile),
  };
}

function clusterOf(members: PatroniMember[], synchronous: boolean, etcdTail: () => string): PatroniCluster {
  const restOf = (m: PatroniMember): string => `http://127.0.0.1:${m.restPort}`;
  const cluster = async (): Promise<ClusterMember[]> => {
    for (const m of members.filter((x) => !x.killed())) {
      const r = await getJson(`${restOf(m)}/cluster`).catch(() => null);
      if (r?.status === 200) return (r.body as { members: ClusterMember[] }).members;
    }
    throw new Error('no Patroni member answers GET /cluster');
  };
  const why = (): string => [`etcd: ${etcdTail()}`, ...members.map((m) => `${m.name}: ${m.log()}`)].join('\n');
  return {
    members,
    cluster,
    async waitForLeader({ timeoutMs = 60_000, exclude } = {}) {
      return poll('a Patroni leader running as primary', timeoutMs, async () => {
        const ms = await cluster();
        const leader = ms.find((m) => m.role === 'leader' && m.state === 'running' && m.name !== exclude);
        if (!leader) return null;
        const own = members.find((m) => m.name === leader.name)!;
        // The leader itself says so: GET /primary is 200 only there.
        if ((await getJson(`${restOf(own)}/primary`)).status !== 200) return null;
        // Synchronous mode: wait until the other live member is the synchronous standby, so
        // every commit from here on waits for its flush.
        const others = members.filter((m) => m.name !== leader.name && !m.killed());
        if (synchronous && others.length && !ms.some((m) => m.role === 'sync_standby' && m.state === 'running')) return null;
        return own;
      }, why);
    },
    query: <T extends Record<string, unknown>>(m: PatroniMember, sql: string, params: unknown[] = [], db = 'postgres'): Promise<T[]> =>
      queryOnce<T>(`postgresql://postgres@${m.hostPort}/${db}`, sql, params),
    destroy: () => undefined,
  };
}

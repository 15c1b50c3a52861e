import Docker from 'dockerode';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { LABEL_MANAGED } from '../../../catalog/controller/labels';
import { parseDatabaseUrl } from '../config/database-url';
import { embeddedPostgresVersion } from '../store/embedded-postgres';
import { HaproxyRuntime } from '../haproxy/runtime-api';
import type { DockerFacts, DoctorProbes, FileFacts, HaproxyTarget, PostgresFacts, ReplicationFacts } from './probes';

/**
 * The doctor's probes, answered by the real host: the file system, a short
 * PostgreSQL session, the HAProxy Runtime API, the Docker engine and the
 * local sidecar's /readyz. Every network probe is bounded by `timeoutMs`.
 */

/** The label the environments code puts on what it creates. */
const MANAGED_LABEL = `${LABEL_MANAGED}=true`;

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

function stat(path: string): FileFacts | null {
  try {
    const s = statSync(path);
    return { mode: s.mode, uid: s.uid, gid: s.gid, isFile: s.isFile(), isDirectory: s.isDirectory(), size: s.size };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The writable server of the URL's host list (libpq order), with what every host is. */
async function postgres(url: string, timeoutMs: number): Promise<PostgresFacts> {
  const parsed = parseDatabaseUrl(url);
  const servers: ReplicationFacts['servers'] = [];
  let primary: Client | null = null;
  let lastError: unknown = null;
  for (const h of parsed.hosts) {
    const hostPort = h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
    const client = new Client({ connectionString: parsed.forHost(h), connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, application_name: 'sidecarctl-doctor' });
    client.on('error', () => undefined); // a dropped connection is reported by the query that fails
    try {
      await client.connect();
      const r = await client.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
      const role = r.rows[0]!.standby ? 'standby' : 'primary';
      servers.push({ hostPort, role });
      if (role === 'primary' && !primary) {
        primary = client;
        continue;
      }
    } catch (err) {
      lastError = err;
      servers.push({ hostPort, role: 'unreachable', detail: (err as Error).message });
    }
    await client.end().catch(() => undefined);
  }
  if (!primary) {
    if (parsed.hosts.length === 1 && lastError) throw lastError;
    throw Object.assign(new Error(`no primary among ${parsed.display}: ${servers.map((s) => `${s.hostPort} ${s.role}${s.detail ? ` (${s.detail})` : ''}`).join('; ')}`), { code: 'ENOPRIMARY' });
  }
  try {
    const before = new Date();
    const r = await primary.query<{ now: Date; version: string; num: string }>(
      "SELECT clock_timestamp() AS now, version() AS version, current_setting('server_version_num') AS num",
    );
    const after = new Date();
    const row = r.rows[0]!;
    const settings = await primary.query<{ names: string; commit: string; timeline: string }>(
      `SELECT current_setting('synchronous_standby_names') AS names, current_setting('synchronous_commit') AS commit,
              ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint::text AS timeline`,
    );
    const repl = await primary.query<{ name: string; state: string; sync_state: string; lag: string | null }>(
      'SELECT application_name AS name, state, sync_state, extract(epoch FROM replay_lag)::text AS lag FROM pg_stat_replication ORDER BY application_name',
    );
    const s = settings.rows[0]!;
    const replication: ReplicationFacts = {
      servers,
      synchronousStandbyNames: s.names,
      synchronousCommit: s.commit,
      standbys: repl.rows.map((x) => ({ name: x.name, state: x.state, syncState: x.sync_state, replayLagSec: x.lag === null ? null : Number(x.lag) })),
      timeline: Number(s.timeline),
    };
    return { before, after, dbNow: new Date(row.now), version: row.version, versionNum: Number(row.num), replication };
  } finally {
    await primary.end().catch(() => undefined);
  }
}

async function haproxy(target: HaproxyTarget, line: string, timeoutMs: number): Promise<string> {
  try {
    return await new HaproxyRuntime(target, { timeoutMs }).send(line);
  } catch (err) {
    // Keep the system error code (ENOENT, EACCES, ECONNREFUSED) for the check's advice.
    const cause = (err as { cause?: { code?: string } }).cause;
    throw withCode((err as Error).message, cause?.code ?? (err as { data?: { reason?: string } }).data?.reason ?? '');
  }
}

function dockerClient(dockerHost: string | null): Docker {
  if (!dockerHost) return new Docker();
  const u = new URL(dockerHost);
  if (u.protocol === 'unix:') return new Docker({ socketPath: u.pathname });
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  return new Docker({ host: u.hostname, port: Number(u.port) || (protocol === 'https' ? 2376 : 2375), protocol });
}

async function docker(dockerHost: string | null, timeoutMs: number): Promise<DockerFacts> {
  const client = dockerClient(dockerHost);
  const bounded = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(withCode(`no answer within ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs).unref())]);
  const v = await bounded(client.version());
  const managed = await bounded(client.listContainers({ all: true, filters: { label: [MANAGED_LABEL] } }));
  return { version: v.Version, apiVersion: v.ApiVersion, managedContainers: managed.length };
}

async function sidecar(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) }).catch((err: Error & { cause?: { code?: string } }) => {
    throw withCode(err.message, err.cause?.code ?? err.name);
  });
  return { status: res.status, body: await res.text() };
}

function packageVersion(): string {
  // build/agent/src/doctor → repository root is four levels up; the sources are three.
  for (const rel of ['../../../package.json', '../../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(require.resolve(rel), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'jenkins-selfmanage' && pkg.version) return pkg.version;
    } catch {
      // try the next layout
    }
  }
  return 'unknown';
}

/** This installation's library-gen program: beside the sidecar in build/, or built from these sources. */
function libraryGenProgram(): string {
  // build/agent/src/doctor → build/library-gen; the sources (agent/src/doctor) → build/library-gen after npm run build.
  for (const rel of ['../../../library-gen/src/bin/library-gen.js', '../../../build/library-gen/src/bin/library-gen.js']) {
    const path = join(__dirname, rel);
    if (existsSync(path)) return path;
  }
  throw new Error(`no library-gen program beside ${__dirname} (build/library-gen/src/bin/library-gen.js)`);
}

/** `library-gen verify --json`, a program of its own: exit 0 (conforms) and 1 (problems) both answer. */
function conformance(teamsFile: string, timeoutMs: number): Record<string, string[]> {
  const r = spawnSync(process.execPath, [libraryGenProgram(), 'verify', '--teams', teamsFile, '--json'], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 });
  if (r.error) throw r.error;
  const why = (r.stderr ?? '').trim().split('\n').slice(-1)[0] || `exit ${r.status ?? r.signal}`;
  if (r.status !== 0 && r.status !== 1) throw new Error(why);
  try {
    const parsed = JSON.parse(r.stdout) as { byTeam?: Record<string, string[]> };
    if (parsed.byTeam && typeof parsed.byTeam === 'object') return parsed.byTeam;
  } catch {
    // the line below says what it printed instead
  }
  throw new Error(`library-gen verify printed no result (${why})`);
}

export function hostProbes(opts: { timeoutMs?: number } = {}): DoctorProbes {
  const timeoutMs = opts.timeoutMs ?? 3_000;
  return {
    stat,
    readText: (path) => readFileSync(path, 'utf8'),
    postgres: (url) => postgres(url, timeoutMs),
    embeddedPostgres: () => embeddedPostgresVersion(),
    haproxy: (target, line) => haproxy(target, line, timeoutMs),
    docker: (host) => docker(host, timeoutMs),
    sidecar: (url) => sidecar(url, timeoutMs),
    // Rendering every team's files is CPU work, not a network wait: its own, longer bound.
    conformance: (teamsFile) => conformance(teamsFile, Math.max(timeoutMs, 60_000)),
    nodeVersion: process.version,
    sidecarVersion: packageVersion(),
  };
}

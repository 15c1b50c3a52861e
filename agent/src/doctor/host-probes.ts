import Docker from 'dockerode';
import { readFileSync, statSync } from 'node:fs';
import { Client } from 'pg';
import { embeddedPostgresVersion } from '../db/embedded-postgres';
import { HaproxyRuntime } from '../haproxy/runtime-api';
import type { DockerFacts, DoctorProbes, FileFacts, HaproxyTarget, PostgresFacts } from './probes';

/**
 * The doctor's probes, answered by the real host: the file system, a short
 * PostgreSQL session, the HAProxy Runtime API, the Docker engine and the
 * local sidecar's /readyz. Every network probe is bounded by `timeoutMs`.
 */

/** Same label the environments code puts on what it creates (agent/src/docker/labels.ts). */
const MANAGED_LABEL = 'io.jenkins-selfmanage.managed=true';

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

async function postgres(url: string, timeoutMs: number): Promise<PostgresFacts> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, application_name: 'sidecarctl-doctor' });
  client.on('error', () => undefined); // a dropped connection is reported by the query that fails
  await client.connect();
  try {
    const before = new Date();
    const r = await client.query<{ now: Date; version: string; num: string }>(
      "SELECT clock_timestamp() AS now, version() AS version, current_setting('server_version_num') AS num",
    );
    const after = new Date();
    const row = r.rows[0];
    return { before, after, dbNow: new Date(row.now), version: row.version, versionNum: Number(row.num) };
  } finally {
    await client.end().catch(() => undefined);
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
    nodeVersion: process.version,
    sidecarVersion: packageVersion(),
  };
}

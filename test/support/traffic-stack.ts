import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Team } from '../../catalog/teams-file';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../agent/src/store/embedded-postgres';
import { freeTeamPorts, startBackend, type Backend } from './backends';
import { createTestDatabase } from './database';
import { eventually } from './eventually';
import { startHaproxy, type HaproxyProcess } from './haproxy-process';
import { testTeam } from './haproxy-teams';
import { RpcClient } from './sidecar-process-rpc';
import { startSidecarProcess, type SidecarProcess } from './sidecar-process';

/**
 * What the traffic fault tests run against: one team on free ports, an HTTP
 * stand-in per side, a real haproxy configured by the project's renderer, a
 * database (a fresh one on the run's server, or an embedded PostgreSQL of the
 * stack's own that a test may stop and start as a fault), and jenkins-sidecar
 * processes holding an ops token for every team. stop() undoes what was
 * started, newest first, also after a start that failed half-way.
 */

export interface Closable {
  close(): Promise<void>;
}

/** An embedded PostgreSQL only this stack uses. */
export interface OwnPostgres {
  readonly url: string;
  readonly port: number;
  running(): boolean;
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
}

export interface TrafficStackOptions<G extends Closable> {
  /** Short lowercase prefix of the team name, database name and instance ids. */
  prefix: string;
  /** 'shared' (default): a fresh database on the run's server. 'own': an embedded PostgreSQL of its own. */
  database?: 'shared' | 'own';
  /** A database the test started itself (e.g. a replicated cluster, several hosts): used as it is, never dropped here. */
  databaseUrl?: string;
  /** The green side's stand-in; startBackend(port, 'green') when absent. */
  startGreen?: (port: number) => Promise<G>;
  /** Sidecars started, each with a connected client, before the stack is handed back; default 1. */
  sidecars?: number;
  /** Extra environment of every sidecar (SIDECAR_HEARTBEAT_SEC, SIDECAR_SHUTDOWN_GRACE_SEC, ...). */
  sidecarEnv?: Record<string, string>;
}

export interface TrafficStack<G extends Closable = Backend> {
  team: Team;
  /** The sidecars' teams file. */
  teamsYaml: string;
  databaseUrl: string;
  /** The stack's own PostgreSQL ('own'); null with a shared database. */
  postgres: OwnPostgres | null;
  blue: Backend;
  green: G;
  haproxy: HaproxyProcess;
  /** Secret of the `ops` token (teams ['*']) every sidecar accepts. */
  secret: string;
  /** The instance id startSidecar() uses unless told another: a restarted sidecar keeps it, as recovery needs. */
  instanceId: string;
  /** Every sidecar started so far, in start order. */
  sidecars: SidecarProcess[];
  /** The clients of the sidecars startTrafficStack started, in the same order. */
  clients: RpcClient[];
  /** Another sidecar on the stack's database, haproxy and teams file; stop() stops it. */
  startSidecar(opts?: { instanceId?: string; env?: Record<string, string> }): Promise<SidecarProcess>;
  /** A client with the ops token; stop() closes it. */
  connect(sidecar: SidecarProcess): Promise<RpcClient>;
  /** The team's live weights in haproxy. */
  weights(): Promise<{ blue: number; green: number }>;
  /** A test's own cleanup, run by stop() before everything started earlier. */
  defer(cleanup: () => Promise<unknown> | void): void;
  stop(): Promise<void>;
}

/** The teams file a sidecar needs for one team. */
export const teamsYamlOf = (team: Team): string => `jenkins_teams:\n  - team_name: ${team.team_name}\n    web_port: ${team.web_port}\n    agent_port: ${team.agent_port}\n`;

/** The team's blue and green server weights in haproxy; -1 for a server haproxy does not list. */
export async function haproxyWeights(haproxy: HaproxyProcess, team: Team): Promise<{ blue: number; green: number }> {
  const stats = await haproxy.runtime.showStat();
  const w = (server: string): number => stats.find((s) => s.backend === team.haproxy_backend && s.server === server)?.weight ?? -1;
  return { blue: w(team.environments.blue.server), green: w(team.environments.green.server) };
}

/** Polls operation.get until the operation is no longer running; resolves with its record. */
export function operationEnded(client: RpcClient, operationId: string, timeoutMs = 20_000): Promise<{ status: string }> {
  return eventually(
    'the switch is no longer running',
    async () => {
      const rec = (await client.call('operation.get', { operationId })).result as { status: string } | undefined;
      return rec && rec.status !== 'running' ? rec : null;
    },
    timeoutMs,
  );
}

async function startOwnPostgres(prefix: string): Promise<{ postgres: OwnPostgres; remove(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `jsm-${prefix}-pg-`));
  // The embedded PostgreSQL runs as the postgres user when we are root: it must traverse the dir.
  chmodSync(dir, 0o711);
  const dataDir = join(dir, 'pg');
  let pg: EmbeddedPostgresHandle | null = null;
  try {
    pg = await startEmbeddedPostgres({ dataDir, port: await freePort() });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const { url, port } = pg;
  const postgres: OwnPostgres = {
    url,
    port,
    running: () => pg !== null,
    async stop() {
      const p = pg;
      pg = null;
      await p?.stop();
    },
    async start() {
      if (pg === null) pg = await startEmbeddedPostgres({ dataDir, port });
    },
  };
  return {
    postgres,
    async remove() {
      await postgres.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startTrafficStack<G extends Closable = Backend>(opts: TrafficStackOptions<G>): Promise<TrafficStack<G>> {
  // Newest first at stop(): each piece is undone before what it depends on.
  const cleanups: Array<() => Promise<unknown> | void> = [];
  const stop = async (): Promise<void> => {
    const failures: string[] = [];
    for (let next = cleanups.pop(); next; next = cleanups.pop()) {
      try {
        await next();
      } catch (err) {
        failures.push((err as Error)?.message ?? String(err));
      }
    }
    if (failures.length) throw new Error(`traffic stack cleanup: ${failures.join('; ')}`);
  };
  const instanceId = `${opts.prefix}-${randomBytes(3).toString('hex')}`;
  const secret = `ops-${randomBytes(12).toString('hex')}-secret-token`;
  try {
    let databaseUrl: string;
    let postgres: OwnPostgres | null = null;
    if (opts.databaseUrl) {
      databaseUrl = opts.databaseUrl;
    } else if (opts.database === 'own') {
      const own = await startOwnPostgres(opts.prefix);
      cleanups.push(() => own.remove());
      postgres = own.postgres;
      databaseUrl = own.postgres.url;
    } else {
      const db = await createTestDatabase(opts.prefix);
      cleanups.push(() => db.drop());
      databaseUrl = db.url;
    }
    const team = testTeam({ prefix: opts.prefix, ...(await freeTeamPorts()) });
    const teamsYaml = teamsYamlOf(team);
    const blue = await startBackend(team.environments.blue.web_port, 'blue');
    cleanups.push(() => blue.close());
    const green = opts.startGreen ? await opts.startGreen(team.environments.green.web_port) : ((await startBackend(team.environments.green.web_port, 'green')) as unknown as G);
    cleanups.push(() => green.close());
    const haproxy = await startHaproxy([team]);
    cleanups.push(() => haproxy.stop());

    const sidecars: SidecarProcess[] = [];
    const startSidecar: TrafficStack<G>['startSidecar'] = async (more = {}) => {
      const sc = await startSidecarProcess({
        databaseUrl,
        instanceId: more.instanceId ?? instanceId,
        tokens: [{ id: 'ops', teams: ['*'], secret }],
        teamsYaml,
        env: { SIDECAR_HAPROXY_SOCKET: haproxy.socketPath, ...opts.sidecarEnv, ...more.env },
      });
      sidecars.push(sc);
      // A test may have stopped or killed it already: what is left to do is removing its dir.
      cleanups.push(() => sc.stop().catch(() => undefined));
      return sc;
    };
    const connect = async (sc: SidecarProcess): Promise<RpcClient> => {
      const client = await RpcClient.connect(sc.rpcUrl, secret);
      cleanups.push(() => client.close());
      return client;
    };
    const clients: RpcClient[] = [];
    const count = opts.sidecars ?? 1;
    for (let i = 0; i < count; i++) {
      const sc = await startSidecar(count > 1 ? { instanceId: `${instanceId}-${i + 1}` } : {});
      clients.push(await connect(sc));
    }
    return {
      team,
      teamsYaml,
      databaseUrl,
      postgres,
      blue,
      green,
      haproxy,
      secret,
      instanceId,
      sidecars,
      clients,
      startSidecar,
      connect,
      weights: () => haproxyWeights(haproxy, team),
      defer: (cleanup) => {
        cleanups.push(cleanup);
      },
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import Docker from 'dockerode';
import { describeDockerError } from './docker/containers';
import { loadTeamsFile } from '../../catalog/teams-file';
import { parseDatabaseUrl } from './config/database-url';
import { ensureOpsToken } from './config/ops-token';
import type { SidecarConfig } from './config/sidecar-config';
import { TeamDirectory } from './config/team-directory';
import { parseTokensDocument, type TokenEntry } from './config/tokens-file';
import { storeLocalFacts } from './coordination/local-facts';
import { Voter } from './coordination/voter';
import { liveEventsFromBus } from './dashboard/bus-adapter';
import { createDashboardRouter } from './dashboard/router';
import { lockDataDir, type DataDirLock } from './db/data-dir-lock';
import { firstUnsearchableDir, startEmbeddedPostgres, type EmbeddedPostgresHandle } from './db/embedded-postgres';
import { SidecarError } from './errors/sidecar-error';
import { createHttpApp } from './http/app';
import { haproxyProbe, readiness, type DependencyState, type Probe } from './http/readiness';
import { createLogger, type Logger } from './logging/logger';
import { SidecarMetrics } from './metrics/sidecar-metrics';
import { OperationRunner } from './operations/runner';
import { Dispatcher, RpcFailure } from './rpc/dispatcher';
import { registerCoreMethods } from './rpc/methods/core';
import { defaultBackupRoot, registerCoordinatedExecution, registerEnvironmentMethods } from './rpc/methods/environment';
import { startSidecarBackups } from './backup/sidecar-backups';
import { teamJenkinsClientFactory } from './environments/controllers';
import { recoverEnvironmentOperations } from './environments/recovery';
import { migrateSnapshotDir } from './environments/target-snapshot';
import { registerTrafficMethods } from './rpc/methods/traffic';
import { HaproxyRuntime, unconfiguredHaproxy } from './haproxy/runtime-api';
import { dockerContainerMetrics } from './traffic/container-metrics';
import { InFlightSwitches } from './traffic/in-flight';
import { DeferredWrites } from './traffic/deferred-writes';
import { OwedWritesSpool } from './traffic/owed-writes-spool';
import { LastReadEnvironments } from './traffic/last-read-state';
import { startWeightReconciler } from './traffic/reconcile';
import { recoverTrafficOperations, startOrphanSweeper } from './traffic/recovery';
import { trafficDeps } from './traffic/traffic-deps';
import { haproxySyntheticCheck } from './traffic/synthetic';
import { httpWebhookNotifier } from './traffic/webhooks';
import { MethodRegistry } from './rpc/registry';
import { TokenAuthenticator } from './rpc/token-auth';
import { attachRpcServer } from './rpc/ws-server';
import type { Clock } from './store/contract';
import { createPgStore, type PgStore } from './store';

/**
 * The composition root: builds every part of the sidecar from its config and
 * starts it. Library code: it never exits the process or installs signal
 * handlers (bin/jenkins-sidecar.ts does). Failures at start are StartupError
 * with one line a person can act on.
 *
 * Other areas add their methods in `registerMethods` below:
 * `registerXMethods(registry, { ...shared, ... })`.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export interface SidecarHandle {
  instanceId: string;
  /** http://host:port of the listener; the RPC endpoint is ws://host:port/rpc. */
  httpUrl: string;
  rpcUrl: string;
  port: number;
  config: SidecarConfig;
  store: PgStore;
  runner: OperationRunner;
  registry: MethodRegistry;
  dispatcher: Dispatcher;
  teams: TeamDirectory;
  docker: Docker;
  metrics: SidecarMetrics;
  log: Logger;
  /** Where the generated ops token lives when no tokens file is configured. */
  opsTokenFile: string | null;
  /** Why the sidecar can no longer work (its embedded database is gone), or null; /healthz answers 503 with it. */
  failure(): string | null;
  /** Called once when the sidecar fails that way (the entry point stops the systemd watchdog pings). */
  onFailure(listener: (why: string) => void): void;
  /** Graceful: stop accepting, abort in-flight operations to a safe point, leave (release leases), close. Idempotent. */
  stop(reason?: string): Promise<void>;
}

export interface SidecarOptions {
  config: SidecarConfig;
  log?: Logger;
  clock?: Clock;
  /** Lines for the person starting the sidecar (where the ops token is). */
  notice?: (line: string) => void;
}

const systemClock: Clock = { now: () => new Date() };

function loadTokens(config: SidecarConfig, notice: (l: string) => void): { tokens: TokenEntry[]; opsTokenFile: string | null } {
  if (config.tokensFile) {
    let text: string;
    let mode: number;
    try {
      text = readFileSync(config.tokensFile, 'utf8');
      mode = statSync(config.tokensFile).mode;
    } catch (err) {
      throw new StartupError(`SIDECAR_TOKENS_FILE ${config.tokensFile}: cannot read: ${(err as Error).message}`);
    }
    const parsed = parseTokensDocument(text, config.tokensFile, mode);
    if (parsed.errors.length) throw new StartupError(parsed.errors.join('; '));
    if (parsed.tokens.length === 0) throw new StartupError(`${config.tokensFile}: lists no tokens; nobody could call the sidecar`);
    return { tokens: parsed.tokens, opsTokenFile: null };
  }
  const ops = ensureOpsToken(config.dataDir);
  notice(
    `no SIDECAR_TOKENS_FILE: ${ops.created ? 'generated' : 'using'} the local ops token in ${ops.path} (mode 600); ` +
      `export SIDECAR_TOKEN="$(cat ${ops.path})" to use sidecarctl`,
  );
  return { tokens: [ops.entry], opsTokenFile: ops.path };
}

function lockOurDataDir(config: SidecarConfig): DataDirLock {
  try {
    return lockDataDir(config.dataDir, { instanceId: config.instanceId, listen: `${config.listen.host}:${config.listen.port}` });
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
}

/** A failure the process cannot recover from by itself, remembered for /healthz and told once to listeners. */
function processHealth(): { fail(why: string): void; failure(): string | null; onFailure(l: (why: string) => void): void } {
  let failed: string | null = null;
  const listeners: Array<(why: string) => void> = [];
  return {
    fail(why) {
      if (failed !== null) return;
      failed = why;
      for (const l of listeners) l(why);
    },
    failure: () => failed,
    onFailure(l) {
      if (failed !== null) l(failed);
      else listeners.push(l);
    },
  };
}

function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    // As root the embedded PostgreSQL runs as `postgres` and must traverse (not list) this directory.
    if (process.getuid?.() === 0) chmodSync(dir, statSync(dir).mode | 0o011);
  } catch (err) {
    throw new StartupError(`SIDECAR_DATA_DIR ${dir}: cannot create: ${(err as Error).message}`);
  }
}

/** As root the embedded PostgreSQL runs as `postgres`: every directory above its data must be searchable by others. */
function assertPostgresCanReach(dir: string): void {
  if (process.getuid?.() !== 0) return;
  const d = firstUnsearchableDir(dirname(dir));
  if (d) {
    throw new StartupError(
      `embedded PostgreSQL: the 'postgres' user cannot reach ${dir} because ${d} is not searchable by others (mode ${(statSync(d).mode & 0o777).toString(8)}); ` +
        `run 'chmod o+x ${d}', choose another SIDECAR_DATA_DIR, or set SIDECAR_DATABASE_URL`,
    );
  }
}

function dockerClient(dockerHost: string | null): Docker {
  if (!dockerHost) return new Docker();
  const u = new URL(dockerHost);
  if (u.protocol === 'unix:') return new Docker({ socketPath: u.pathname });
  return new Docker({ host: u.hostname, port: Number(u.port || 2375), protocol: u.protocol === 'https:' ? 'https' : 'http' });
}

function describeDb(url: string): string {
  try {
    return parseDatabaseUrl(url).display;
  } catch {
    return '(unparseable URL)';
  }
}

export async function startSidecar(opts: SidecarOptions): Promise<SidecarHandle> {
  const config = opts.config;
  const clock = opts.clock ?? systemClock;
  const notice = opts.notice ?? (() => undefined);
  const log = opts.log ?? createLogger({ level: config.logLevel, instanceId: config.instanceId });
  const cleanups: Array<() => Promise<void>> = [];
  const health = processHealth();
  const undo = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };

  try {
    prepareDataDir(config.dataDir);
    // Before anything in the directory is touched: a second instance there stops here, naming the first.
    const dirLock = lockOurDataDir(config);
    cleanups.push(async () => dirLock.release());
    const { tokens, opsTokenFile } = loadTokens(config, notice);
    const auth = new TokenAuthenticator(tokens);

    let teams = new TeamDirectory(null);
    if (config.teamsFile) {
      const t = loadTeamsFile(config.teamsFile);
      if (t.errors.length) throw new StartupError(t.errors.join('; '));
      teams = new TeamDirectory(t.teams);
    }

    let databaseUrl = config.databaseUrl;
    let embedded: EmbeddedPostgresHandle | null = null;
    if (!databaseUrl) {
      assertPostgresCanReach(join(config.dataDir, 'postgres'));
      try {
        embedded = await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'postgres'), onLog: (l) => log.debug('postgres', { line: l }) });
      } catch (err) {
        throw new StartupError(`embedded PostgreSQL (SIDECAR_DATABASE_URL unset): ${(err as Error)?.message ?? String(err)}`);
      }
      const pg = embedded;
      cleanups.push(() => pg.stop());
      // Without its database the sidecar can do nothing: /healthz (the supervisor's view) says so from then on.
      pg.onUnexpectedExit((why) => {
        log.error('embedded PostgreSQL is gone; restart the sidecar', { reason: why });
        health.fail(why);
      });
      databaseUrl = pg.url;
      log.info('embedded PostgreSQL started', { dataDir: pg.dataDir, port: pg.port });
    }

    let store: PgStore;
    try {
      store = await createPgStore({
        connectionString: databaseUrl,
        instanceId: config.instanceId,
        clock,
        liveWithinSec: config.liveWithinSec,
        answerTimeoutMs: config.databaseAnswerTimeoutSec * 1000,
        onBackgroundError: (err) => log.warn('coordination store background connection', { error: err.message }),
        onServerFound: (server) => log.info('coordination database: using the server that matches target_session_attrs', { server }),
      });
    } catch (err) {
      const why = (err as Error)?.message ?? String(err);
      throw new StartupError(
        `cannot use PostgreSQL at ${describeDb(databaseUrl)}: ${why.replace(/^coordination database \S+: /, '')}; check SIDECAR_DATABASE_URL and that the server is up`,
      );
    }
    cleanups.push(() => store.close());

    const docker = dockerClient(config.dockerHost);
    const metrics = new SidecarMetrics({ instanceId: config.instanceId, breakers: () => store.breakers.list(), environments: () => store.environments.list() });
    const runner = new OperationRunner({
      journal: store.journal,
      clock,
      log,
      onFinished: (op) => metrics.operationFinished(op),
      // `deferred` is made below; an operation can only end after start-up.
      owedFinish: (team, id, status, result, error) => deferred.finish(team, id, status, error ?? null, result),
    });
    metrics.watchBus(runner.bus);
    const registry = new MethodRegistry();
    registerCoreMethods(registry, { store, runner, teams, instanceId: config.instanceId, metrics, docker });
    registerEnvironmentMethods(registry, { store, runner, teams, docker, backupRoot: defaultBackupRoot(config.dataDir), migrateSnapshotDir: migrateSnapshotDir(config.dataDir), networking: config.controllerNetworking, controllerFiles: config.controllerFiles });
    const backups = startSidecarBackups({
      docker,
      environments: store.environments,
      teams: () => teams.list(),
      root: defaultBackupRoot(config.dataDir),
      registry: metrics.registry,
      onError: (team, err) => log.warn('scheduled configuration backup failed', { team, error: (err as Error)?.message ?? String(err) }),
    });
    if (backups) cleanups.push(() => backups.stop());
    // Other areas register here, e.g. registerTrafficMethods(registry, { store, runner, teams, ... }).
    // Traffic: the HAProxy driver, traffic.switch / rollback.emergency / traffic.status, then startup
    // recovery of this instance's unfinished traffic operations and the desired-weights reconcile loop.
    const haproxyDriver = config.haproxySocket ? new HaproxyRuntime(config.haproxySocket) : unconfiguredHaproxy();
    // Owed writes are kept on disk: a restart during a database outage still writes them.
    const deferred = new DeferredWrites({
      journal: store.journal,
      environments: store.environments,
      audit: store.audit,
      spool: new OwedWritesSpool(join(config.dataDir, 'owed-writes.jsonl'), log),
      log,
      operationOf: (id) => runner.describe(id),
    });
    // What a previous run still owed goes first, so recovery below reads the journal as it really ended (bounded wait).
    if (deferred.resume() > 0) await Promise.race([deferred.settled(), new Promise((r) => setTimeout(r, 10_000).unref())]);
    // Each team's environment_state as last read: rollback.emergency's target while Postgres is unreachable.
    const lastRead = new LastReadEnvironments((t) => deferred.pending(t));
    const trafficStore = { locks: store.locks, journal: store.journal, environments: lastRead.watch(store.environments), breakers: store.breakers, audit: store.audit };
    const traffic = trafficDeps({ store: trafficStore, haproxy: haproxyDriver, teamConfig: (t) => teams.find(t), containerMetrics: dockerContainerMetrics(docker), inFlight: new InFlightSwitches(), deferred, log, webhooks: httpWebhookNotifier((t) => teams.find(t)?.webhooks) });
    // Each validation window also runs a synthetic Jenkins transaction on the target through HAProxy.
    if (config.haproxyFrontend) traffic.synthetic = haproxySyntheticCheck({ frontend: config.haproxyFrontend });
    registerTrafficMethods(registry, { runner, teams, traffic, lastRead });
    registerCoordinatedExecution(registry, { store, runner, teams, docker, backupRoot: defaultBackupRoot(config.dataDir), networking: config.controllerNetworking, controllerFiles: config.controllerFiles, traffic, migrateSnapshotDir: migrateSnapshotDir(config.dataDir) });
    // Environment operations left running by a killed sidecar are closed; a source a migration quieted down gets its executors back.
    for (const a of await recoverEnvironmentOperations({ journal: store.journal, jenkinsFor: teamJenkinsClientFactory(), team: (n) => teams.find(n), docker }, config.instanceId).catch((err: Error) => {
      log.warn('environment operation recovery failed', { error: err.message });
      return [];
    })) log.warn('closed an unfinished environment operation', { ...a });
    const trafficLoops: Array<{ stop(): Promise<void> }> = [];
    if (config.haproxySocket) {
      for (const a of await recoverTrafficOperations(traffic, config.instanceId, clock)) log.warn('recovered an unfinished traffic operation', { ...a });
      trafficLoops.push(startWeightReconciler({ environments: store.environments, haproxy: haproxyDriver, teamConfig: (t) => teams.find(t), log, skipTeam: (t) => traffic.deferred?.pending(t) ?? false, onRead: (states) => lastRead.remember(states) }));
      // Switches of sidecars that stopped heartbeating are adopted and brought to a consistent end.
      trafficLoops.push(
        startOrphanSweeper(traffic, config.instanceId, clock, {
          liveWithinSec: config.liveWithinSec,
          onActions: (actions) => actions.forEach((a) => log.warn('adopted and recovered a dead sidecar\'s traffic operation', { ...a })),
        }),
      );
      cleanups.push(async () => {
        for (const l of trafficLoops) await l.stop();
      });
    }

    const dispatcher = new Dispatcher({
      registry,
      instanceId: config.instanceId,
      audit: store.audit,
      metrics,
      log,
      maxInFlightPerToken: config.limits.maxInFlightPerToken,
      selfAudited: new Set(['coordination.update']),
    });

    // Dependency probes: /readyz, the heartbeat's health score and the Voter's local facts.
    const haproxy = haproxyProbe(config.haproxySocket);
    const dockerProbe: Probe = async () => {
      try {
        await docker.ping();
        return { status: 'up', detail: config.dockerHost ?? 'default socket' };
      } catch (err) {
        // The same words as the DEPENDENCY_DOWN answers (socket gone / refused / permission).
        return { status: 'down', detail: `Docker at ${config.dockerHost ?? '/var/run/docker.sock'}: ${describeDockerError(err)}` };
      }
    };
    const postgresProbe: Probe = async () => {
      await store.ping();
      return { status: 'up', detail: describeDb(databaseUrl) };
    };
    const asCheck = (p: Probe) => async (): Promise<void> => {
      const s = await p();
      if (s.status === 'down') throw new Error(s.detail);
    };

    // Heartbeat with a health score: 100, less 40 for each local dependency that is down.
    const beat = async (): Promise<void> => {
      const report = await readiness({ haproxy, docker: dockerProbe });
      const down = Object.entries(report.checks).filter(([, s]) => s.status === 'down');
      const score = Math.max(0, 100 - 40 * down.length);
      await store.participants.heartbeat(config.instanceId, score, {
        checks: Object.fromEntries(Object.entries(report.checks).map(([k, s]: [string, DependencyState]) => [k, s.status])),
        pid: process.pid,
      });
    };
    try {
      await beat();
    } catch (err) {
      throw new StartupError(`first heartbeat to PostgreSQL failed: ${(err as Error).message}`);
    }
    let beating = false;
    const heartbeat = setInterval(() => {
      if (beating) return; // a slow beat must not pile up
      beating = true;
      beat()
        .catch((err: Error) => log.warn('heartbeat failed', { error: err.message }))
        .finally(() => {
          beating = false;
        });
    }, config.heartbeatSec * 1000);
    heartbeat.unref();
    cleanups.push(async () => clearInterval(heartbeat));

    const voter = new Voter({
      instanceId: config.instanceId,
      consensus: store.consensus,
      facts: storeLocalFacts({
        breakers: store.breakers,
        journal: store.journal,
        probes: { ...(config.haproxySocket ? { haproxy: asCheck(haproxy) } : {}), docker: asCheck(dockerProbe) },
      }),
      onVote: (v) => log.info('voted', v),
      onError: (err) => log.warn('voter', { error: err.message }),
    });
    await voter.start();
    cleanups.push(() => voter.stop());

    const events = liveEventsFromBus(runner.bus, clock);
    cleanups.push(async () => events.close());
    const dashboard = createDashboardRouter({
      authenticate: (token) => {
        const a = auth.authenticate(`Bearer ${token}`);
        return a.ok ? { id: a.principal.tokenId, teams: a.principal.teams } : null;
      },
      events,
      emergencyStop: async (req, who) => {
        try {
          return await dispatcher.invoke('rollback.emergency', { ...req }, { principal: { tokenId: who.id, teams: who.teams }, signal: new AbortController().signal, progress: () => undefined });
        } catch (err) {
          if (err instanceof RpcFailure) throw new SidecarError('NOT_FOUND', `emergency stop is not available: ${err.message}`);
          throw err;
        }
      },
      log: (level, message, meta) => log.log(level, message, meta),
    });

    // sidecar_dependency_up: the same probes as /readyz, run at each scrape.
    metrics.watchDependencies(async () => {
      const report = await readiness({ postgres: postgresProbe, haproxy, docker: dockerProbe });
      return Object.fromEntries(Object.entries(report.checks).map(([k, v]) => [k, v.status]));
    });
    const startedAt = new Date();
    const app = createHttpApp({
      instanceId: config.instanceId,
      store,
      teams,
      auth,
      metrics,
      readiness: () => readiness({ postgres: postgresProbe, haproxy, docker: dockerProbe }),
      dashboard,
      startedAt,
      health: () => health.failure(),
      allowedHosts: config.allowedHosts ?? [],
    });
    const server: Server = createServer(app);
    server.keepAliveTimeout = 5_000;
    const rpc = attachRpcServer(server, {
      auth,
      dispatcher,
      maxPayloadBytes: config.limits.maxPayloadBytes,
      maxConnectionsPerToken: config.limits.maxConnectionsPerToken,
      log,
      metrics,
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new StartupError(`cannot listen on ${config.listen.host}:${config.listen.port} (SIDECAR_LISTEN): ${err.code === 'EADDRINUSE' ? 'address in use' : err.message}`)),
      );
      server.listen(config.listen.port, config.listen.host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const hostForUrl = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
    log.info('sidecar started', { listen: `${config.listen.host}:${port}`, database: describeDb(databaseUrl), embeddedPostgres: !!embedded, teams: teams.list().length });

    let stopping: Promise<void> | null = null;
    const stop = (reason = 'shutdown requested'): Promise<void> => {
      stopping ??= (async () => {
        log.info('stopping', { reason, inFlight: runner.inFlight() });
        rpc.stopAccepting();
        const closed = new Promise<void>((r) => server.close(() => r()));
        runner.abortAll(`sidecar ${config.instanceId} is shutting down (${reason})`);
        const graceEnds = Date.now() + config.shutdownGraceSec * 1000;
        const left = await runner.drain(config.shutdownGraceSec * 1000);
        // An operation that ended is not yet an answer: the dispatcher still audits it and sends
        // the reply. Closing sockets before that loses the caller's answer (DEPENDENCY_DOWN /
        // rolled_back after a SIGTERM mid-switch), so wait for it within the same grace.
        const unanswered = await dispatcher.settle(Math.max(1_000, graceEnds - Date.now()));
        if (unanswered > 0) log.warn('calls still unanswered at the shutdown deadline; their callers re-attach or retry', { unanswered });
        for (const l of trafficLoops) await l.stop();
        if (left > 0) log.warn('operations still running at the shutdown deadline; recovery resumes them at next start', { left });
        await voter.stop().catch(() => undefined);
        clearInterval(heartbeat);
        // Leaving releases this instance's leadership leases now rather than at lease expiry.
        await store.participants.leave(config.instanceId).catch((err: Error) => log.warn('could not leave the participants', { error: err.message }));
        events.close();
        await rpc.closeAll();
        server.closeAllConnections();
        await closed;
        await store.close().catch(() => undefined);
        if (embedded) await embedded.stop();
        dirLock.release();
        log.info('stopped', { reason });
      })();
      return stopping;
    };

    return {
      instanceId: config.instanceId,
      httpUrl: `http://${hostForUrl}:${port}`,
      rpcUrl: `ws://${hostForUrl}:${port}/rpc`,
      port,
      config,
      store,
      runner,
      registry,
      dispatcher,
      teams,
      docker,
      metrics,
      log,
      opsTokenFile,
      failure: () => health.failure(),
      onFailure: (l) => health.onFailure(l),
      stop,
    };
  } catch (err) {
    await undo();
    if (err instanceof StartupError) throw err;
    throw new StartupError((err as Error)?.message ?? String(err));
  }
}

import { dataDirLayout } from './config/data-dir';
import { createLogger } from './log';
import { wireAccess } from './wiring/access';
import { startBackups } from './wiring/backups';
import { RunningAreas, StartupError, type SidecarContext } from './wiring/context';
import { startCoordination } from './wiring/coordination';
import { wireDashboard } from './wiring/dashboard';
import { claimDataDir } from './wiring/data-dir';
import { wireDatabase } from './wiring/database';
import { wireEnvironments } from './wiring/environments';
import { startListener } from './wiring/http';
import { wireOperations } from './wiring/operations';
import { dependencyProbes } from './wiring/probes';
import { processHealth } from './wiring/process-health';
import type { SidecarHandle, SidecarOptions } from './wiring/handle';
import { gracefulStop } from './wiring/shutdown';
import { startTrafficLoops, wireTraffic } from './wiring/traffic';

/**
 * The composition root: the sidecar's areas (agent/src/wiring/), started in order and
 * stopped last-first. Library code: it never exits the process or installs signal
 * handlers (bin/jenkins-sidecar.ts does). Failures at start are StartupError.
 */
export { StartupError };

export type { SidecarHandle, SidecarOptions };

export async function startSidecar(opts: SidecarOptions): Promise<SidecarHandle> {
  const { config } = opts;
  const log = opts.log ?? createLogger({ level: config.logLevel, instanceId: config.instanceId });
  const ctx: SidecarContext = { config, log, clock: opts.clock ?? { now: () => new Date() }, dataDir: dataDirLayout(config.dataDir), health: processHealth() };
  const areas = new RunningAreas();
  try {
    areas.add(claimDataDir(config));
    const access = wireAccess(config, opts.notice ?? (() => undefined));
    const db = areas.add(await wireDatabase(ctx));
    const { store } = db;
    const ops = wireOperations(ctx, store, access.teams);
    areas.add(startBackups(ctx, store, access.teams, ops));
    const traffic = await wireTraffic(ctx, store, access.teams, ops);
    await wireEnvironments(ctx, store, access.teams, ops, traffic.traffic);
    areas.add(await startTrafficLoops(ctx, store, access.teams, traffic));
    const probes = dependencyProbes(config, ops.docker, store, db);
    areas.add(await startCoordination(ctx, store, probes));
    // sidecar_dependency_up: the same probes as /readyz, run at each scrape.
    ops.metrics.watchDependencies(async () => Object.fromEntries(Object.entries((await probes.all()).checks).map(([k, v]) => [k, v.status])));
    const dashboard = wireDashboard(ctx, access.auth, ops.runner, ops.dispatcher);
    const listener = areas.add(await startListener(ctx, { store, access, ops, probes, dashboard }));
    log.info('sidecar started', { listen: `${config.listen.host}:${listener.port}`, database: db.display, embeddedPostgres: db.embedded, teams: access.teams.list().length });
    return {
      instanceId: config.instanceId,
      httpUrl: listener.httpUrl,
      rpcUrl: listener.rpcUrl,
      port: listener.port,
      config,
      store,
      runner: ops.runner,
      registry: ops.registry,
      dispatcher: ops.dispatcher,
      teams: access.teams,
      docker: ops.docker,
      metrics: ops.metrics,
      log,
      opsTokenFile: access.opsTokenFile,
      failure: () => ctx.health.failure(),
      onFailure: (l) => ctx.health.onFailure(l),
      stop: gracefulStop(ctx, { listener, runner: ops.runner, dispatcher: ops.dispatcher, areas }),
    };
  } catch (err) {
    await areas.undo();
    if (err instanceof StartupError) throw err;
    throw new StartupError((err as Error)?.message ?? String(err));
  }
}

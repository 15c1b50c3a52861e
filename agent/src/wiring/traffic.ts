import type { TeamDirectory } from '../config/team-directory';
import { HaproxyRuntime, unconfiguredHaproxy } from '../haproxy/runtime-api';
import { registerTrafficMethods } from '../rpc/methods/traffic';
import { trafficControlMethods } from '../rpc/methods/traffic-control';
import { trafficPlanMethods } from '../rpc/methods/traffic-plan';
import { SwitchControls } from '../traffic/switch-control';
import { sleep } from '../sleep';
import type { PgStore } from '../store';
import { dockerContainerMetrics } from '../traffic/container-metrics';
import { InFlightSwitches } from '../traffic/in-flight';
import { LastReadEnvironments } from '../traffic/last-read-state';
import { startWeightReconciler } from '../traffic/reconcile';
import { recoverTrafficOperations, startOrphanSweeper } from '../traffic/recovery';
import { pausedSwitchResumer, type PausedSwitchResumer } from '../traffic/resume-paused';
import { trafficDeps, type TrafficDeps } from '../traffic/switch';
import { haproxySyntheticCheck } from '../traffic/synthetic';
import { httpWebhookNotifier } from '../traffic/webhooks';
import { triggerHandover } from '../traffic/queue-handover';
import { teamJenkinsClientFactory } from '../environments/controllers';
import { dockerStayedBehindWatcher } from '../environments/stayed-behind';
import { dockerTargetSync } from '../environments/pre-switch-sync';
import { controllerContainers } from '../environments/container-status';
import { nothingRunning, type Running, type SidecarContext } from './context';
import type { Operations } from './operations';

/** What the traffic area gives the others: the switch's drivers and each team's state as last read. */
export interface Traffic {
  traffic: TrafficDeps;
  lastRead: LastReadEnvironments;
  /** Runs a switch found paused after a restart (or adopted) again, still paused. */
  resumer: PausedSwitchResumer;
}

/** A pause nobody resumes rolls the switch back after this long (a team without a teams-file entry). */
const DEFAULT_MAX_PAUSE_SEC = 3_600;

/** How long the start waits for what a previous run still owed to PostgreSQL before going on. */
const OWED_WRITES_WAIT_MS = 10_000;

/**
 * The HAProxy driver and traffic.switch / rollback.emergency / traffic.status. What a previous
 * run still owed goes first, so recovery reads the journal as it really ended (bounded wait).
 */
export async function wireTraffic(ctx: SidecarContext, store: PgStore, teams: TeamDirectory, ops: Operations): Promise<Traffic> {
  const { config, log } = ctx;
  const { deferred } = ops;
  if (deferred.resume() > 0) await Promise.race([deferred.settled(), new Promise((r) => setTimeout(r, OWED_WRITES_WAIT_MS).unref())]);
  // Each team's environment_state as last read: rollback.emergency's target while Postgres is unreachable.
  const lastRead = new LastReadEnvironments((t) => deferred.pending(t));
  const haproxy = config.haproxySocket ? new HaproxyRuntime(config.haproxySocket) : unconfiguredHaproxy();
  const jenkinsFor = teamJenkinsClientFactory();
  const teamConfig = (t: string) => teams.find(t);
  const traffic = trafficDeps({
    store: { locks: store.locks, journal: store.journal, environments: lastRead.watch(store.environments), breakers: store.breakers, audit: store.audit },
    haproxy,
    teamConfig: (t) => teams.find(t),
    containerMetrics: dockerContainerMetrics(ops.docker),
    inFlight: new InFlightSwitches(),
    deferred,
    log,
    webhooks: httpWebhookNotifier((t) => teams.find(t)?.webhooks),
    // Each validation window also runs a synthetic Jenkins transaction on the target through HAProxy.
    ...(config.haproxyFrontend ? { synthetic: haproxySyntheticCheck({ frontend: config.haproxyFrontend }) } : {}),
    // After a promotion the switch moves inbound agents off the old controller through its REST API.
    jenkinsFor,
    // Webhooks and queued builds follow the side that serves (also after a migration: wiring/environments.ts).
    triggers: config.haproxySocket ? triggerHandover({ haproxy, jenkinsFor, audit: store.audit, log }) : undefined,
    // A rollback lists what the target did while it had traffic.
    stayedBehind: dockerStayedBehindWatcher(ops.docker, teamConfig),
    // A target without traffic is brought up to date with the source before it gets any.
    targetSync: dockerTargetSync({ docker: ops.docker, jenkinsFor, journal: store.journal, snapshotDir: ctx.dataDir.migrateSnapshots }, { teamConfig }),
  });
  // A person's pause / resume / promote / abort reaches the switch running in this process.
  const maxPauseSec = (t: string): number => teams.find(t)?.progressive_traffic.max_pause_sec ?? DEFAULT_MAX_PAUSE_SEC;
  const controls = new SwitchControls({ maxPauseSec });
  registerTrafficMethods(ops.registry, { runner: ops.runner, teams, traffic, lastRead, controls });
  ops.registry.add(...trafficControlMethods({ teams, commands: { controls, journal: store.journal, clock: ctx.clock, sleep: (ms) => sleep(ms), maxPauseSec } }));
  ops.registry.add(...trafficPlanMethods({ teams, plan: { traffic, clock: ctx.clock, containers: (team) => controllerContainers(ops.docker, team) } }));
  return { traffic, lastRead, resumer: pausedSwitchResumer({ runner: ops.runner, controls }) };
}

/**
 * With HAProxy configured: this instance's unfinished traffic operations are recovered, then the
 * desired-weights reconcile loop and the sweeper of dead sidecars' switches run until stop.
 */
export async function startTrafficLoops(ctx: SidecarContext, store: PgStore, teams: TeamDirectory, { traffic, lastRead, resumer }: Traffic): Promise<Running> {
  const { config, clock, log } = ctx;
  if (!config.haproxySocket) return nothingRunning;
  for (const a of await recoverTrafficOperations(traffic, config.instanceId, clock, resumer)) log.warn('recovered an unfinished traffic operation', { ...a });
  const loops = [
    startWeightReconciler({
      environments: store.environments,
      haproxy: traffic.haproxy,
      teamConfig: (t) => teams.find(t),
      log,
      skipTeam: (t) => traffic.deferred.pending(t),
      onRead: (states) => lastRead.remember(states),
    }),
    // Switches of sidecars that stopped heartbeating are adopted and brought to a consistent end.
    startOrphanSweeper(traffic, config.instanceId, clock, {
      liveWithinSec: config.liveWithinSec,
      onActions: (actions) => actions.forEach((a) => log.warn("adopted and recovered a dead sidecar's traffic operation", { ...a })),
    }),
  ];
  return {
    async stop() {
      for (const l of loops) await l.stop();
    },
  };
}

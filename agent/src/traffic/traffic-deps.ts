import type { Team } from '../../../catalog/teams-file';
import type { HaproxyDriver } from '../haproxy/runtime-api';
import type { AuditLog, BreakerStore, EnvironmentStateStore, LockStore, OperationJournal } from '../store/contract';
import type { ContainerMetrics } from './container-metrics';
import type { OwedWrites } from './deferred-writes';
import type { InFlightRegistry } from './in-flight';
import type { SyntheticCheck } from './synthetic';
import { noContainerMetrics, noInFlight, noOwedWrites, noSyntheticCheck, noTeamConfig, noWebhooks, realSleep, silentLog, type TrafficLog } from './unconfigured';
import type { WebhookNotifier } from './webhooks';
import type { JenkinsClientFactory } from '../environments/controllers';
import type { TargetSync } from '../environments/pre-switch-sync';
import type { StayedBehindWatcher } from '../environments/stayed-behind';
import type { TriggerHandover } from './queue-handover';

/**
 * What the traffic operations (switch, emergency stop, recovery, status) use.
 * Every member is there: a part the sidecar has not configured is its null
 * object (unconfigured.ts), so the operations never ask whether it exists.
 */
export interface TrafficDeps {
  store: {
    locks: LockStore;
    journal: OperationJournal;
    environments: EnvironmentStateStore;
    breakers: BreakerStore;
    audit: AuditLog;
  };
  haproxy: HaproxyDriver;
  /** The team's configuration from the teams file (undefined: default names). */
  teamConfig: (team: string) => Team | undefined;
  containerMetrics: ContainerMetrics;
  webhooks: WebhookNotifier;
  inFlight: InFlightRegistry;
  /** Records owed to Postgres after a rollback applied without it (see weights.ts). */
  deferred: OwedWrites;
  /** A synthetic Jenkins transaction on the target through HAProxy, run during every window (synthetic.ts). */
  synthetic: SyntheticCheck;
  /** Waits; resolves early when the signal fires. Tests may pass a faster one. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  log: TrafficLog;
  /**
   * The switch's optional concerns, each off when absent: they become the switch's hooks in one
   * place (switch/concern-hooks.ts), so the phases never ask whether they exist.
   */
  /** REST clients of the team's controllers: after promotion, inbound agents move off the old side (agent-handover.ts). */
  jenkinsFor?: JenkinsClientFactory;
  /** Webhooks and queued builds follow the side that serves after a promotion or a rollback (queue-handover.ts). */
  triggers?: TriggerHandover;
  /** Lists the target's home at the start; a rollback reports what it did meanwhile (stayed-behind.ts). */
  stayedBehind?: StayedBehindWatcher;
  /** Brings a target without traffic up to date with the source (migration and reload) before it gets any (pre-switch-sync.ts). */
  targetSync?: TargetSync;
}

/** TrafficDeps from the parts that are configured; the others are their null objects. */
export function trafficDeps(parts: Pick<TrafficDeps, 'store' | 'haproxy'> & Partial<TrafficDeps>): TrafficDeps {
  return {
    teamConfig: noTeamConfig,
    containerMetrics: noContainerMetrics,
    webhooks: noWebhooks,
    inFlight: noInFlight,
    deferred: noOwedWrites,
    synthetic: noSyntheticCheck,
    sleep: realSleep,
    log: silentLog,
    ...parts,
  };
}

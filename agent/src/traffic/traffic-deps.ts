import type { Team } from '../../../catalog/teams-file';
import type { HaproxyDriver } from '../haproxy/runtime-api';
import type { AuditLog, BreakerStore, EnvironmentStateStore, LockStore, OperationJournal } from '../store/contract';
import type { ContainerMetrics } from './container-metrics';
import type { OwedWrites } from './deferred-writes';
import type { InFlightRegistry } from './in-flight';
import type { SyntheticCheck } from './synthetic';
import { noContainerMetrics, noInFlight, noOwedWrites, noSyntheticCheck, noTeamConfig, noWebhooks, realSleep, silentLog, type TrafficLog } from './unconfigured';
import type { WebhookNotifier } from './webhooks';

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

import type { ContainerMetrics } from './container-metrics';
import type { OwedWrites } from './deferred-writes';
import type { InFlightRegistry } from './in-flight';
import type { SyntheticCheck } from './synthetic';
import type { WebhookNotifier } from './webhooks';

/**
 * Null objects for the traffic operations' optional parts: what the sidecar
 * does when a part is not configured, written once here instead of as a
 * "configured?" check at every use.
 */
export interface TrafficLog {
  info(m: string, meta?: Record<string, unknown>): void;
  warn(m: string, meta?: Record<string, unknown>): void;
}

export const silentLog: TrafficLog = { info: () => undefined, warn: () => undefined };

/** No teams file entry: default backend and server names, blue active. */
export const noTeamConfig = (): undefined => undefined;

/** No container engine: the cpu_usage / memory_usage triggers are not judged. */
export const noContainerMetrics: ContainerMetrics = { sample: async () => null };

/** No webhooks: the pre-switch hook admits every switch, the notifications go nowhere. */
export const noWebhooks: WebhookNotifier = { notify: async () => undefined };

/** No HAProxy frontend or API token: windows are judged on HAProxy's counters alone. */
export const noSyntheticCheck: SyntheticCheck = { run: async () => null };

/** No in-process registry: a switch is halted only through Postgres (its desired weights change). */
export const noInFlight: InFlightRegistry = {
  register: () => ({ signal: new AbortController().signal, done: () => undefined }),
  halt: async () => null,
};

const cannotOwe = (): never => {
  throw new Error('internal: a write was owed to PostgreSQL on a sidecar that has no owed-writes queue');
};

/** No owed-writes queue: a move needs Postgres; the callers check `canOwe` before owing anything. */
export const noOwedWrites: OwedWrites = { canOwe: false, pending: () => false, weights: cannotOwe, finish: cannotOwe, beginOperation: cannotOwe, promote: cannotOwe, audit: cannotOwe };

/** The real wait (one helper for the whole daemon: ../sleep.ts). */
export { sleep as realSleep } from '../sleep';

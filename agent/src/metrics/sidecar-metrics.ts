import { collectDefaultMetrics, type Counter, type Gauge, type Histogram, Registry } from 'prom-client';
import type { BreakerStatus, OperationRecord, TeamEnvironmentState } from '../store/contract';
import type { OperationEnd, OperationEventBus, ProgressEvent } from '../operations/event-bus';
import { consensusMetrics, operationMetrics } from './operation-metrics';
import { rpcMetrics } from './rpc-metrics';
import { breakerGauge, dependencyGauge, environmentGauges, type DependencyProbe } from './scrape-gauges';

export { BREAKER_STATE_VALUE } from './scrape-gauges';

/** What the runner reports when an operation ends (OperationRunnerDeps.onFinished). */
export interface FinishedOperation {
  type: string;
  team: string | null;
  status: 'succeeded' | 'failed' | 'rolled_back' | 'aborted';
  durationSec: number;
  /** The journaled error; `data.operationStatus: 'failed'` marks a switch whose rollback did not complete. */
  error?: { code: string; data?: unknown } | null;
}

/** Operations that move traffic: a failed one may leave it where a person must look. */
const TRAFFIC_OPERATIONS: ReadonlySet<string> = new Set(['traffic.switch', 'rollback.emergency', 'coordination.execute']);

/**
 * A refusal (bad lock token, CONFLICT) also ends `failed` but moved nothing. What needs a person:
 * a failed rollback.emergency (someone asked for traffic back and it did not get there), or a
 * switch that says its own rollback failed (SidecarError data.operationStatus 'failed', traffic/switch/phases/end-failed.ts).
 */
function needsPerson(op: FinishedOperation): boolean {
  if (op.status !== 'failed') return false;
  if (op.type === 'rollback.emergency') return true;
  const data = op.error?.data;
  return !!data && typeof data === 'object' && (data as { operationStatus?: unknown }).operationStatus === 'failed';
}
/** Operations a person starts to take over from automation (the dashboard's emergency stop is rollback.emergency). */
const MANUAL_OPERATIONS: Readonly<Record<string, string>> = { 'rollback.emergency': 'emergency_rollback' };

/**
 * The sidecar's Prometheus metrics, in a registry of its own (never prom-client's
 * global one) so several sidecars in one test process do not collide.
 * Names follow Prometheus conventions (`_total`, `_seconds`) so
 * `promtool check metrics` passes. Every `sidecar_*` family the generated
 * monitoring uses (catalog/metric-names.ts SIDECAR_METRICS) is
 * registered here; test/integration/metrics-monitoring-parity.test.ts holds the two together.
 */
export class SidecarMetrics {
  readonly registry = new Registry();
  readonly rpcRequests: Counter<'method' | 'result'>;
  readonly rpcDuration: Histogram<'method'>;
  readonly lockWait: Histogram<'result'>;
  readonly consensusDuration: Histogram<'team' | 'result'>;
  readonly operations: Counter<'type' | 'result' | 'team'>;
  readonly breakerState: Gauge<'breaker'>;
  readonly rpcConnections: Gauge;
  readonly operationDuration: Histogram<'team' | 'type'>;
  readonly rollbacks: Counter<'team' | 'kind'>;
  readonly consensusRequests: Counter<'team' | 'outcome'>;
  readonly dependencyUp: Gauge<'dependency'>;
  readonly awaitingIntervention: Gauge<'team'>;
  readonly manualInterventions: Counter<'team' | 'kind'>;
  readonly emergencyResponse: Histogram<'team'>;
  readonly trafficWeight: Gauge<'team' | 'environment'>;
  readonly activeEnvironment: Gauge<'team' | 'environment'>;
  private dependencyProbe: DependencyProbe | null = null;

  constructor(opts: {
    instanceId: string;
    breakers?: () => Promise<BreakerStatus[]>;
    /** Each team's desired weights and active side, read at scrape time (shared by every sidecar). */
    environments?: () => Promise<TeamEnvironmentState[]>;
    defaultMetrics?: boolean;
  }) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ instance_id: opts.instanceId });
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client names these gauges `_total`, which `promtool check metrics` rejects; the handle/request counts are not worth a lint failure.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    }
    // One group per area (metrics/*-metrics.ts, scrape-gauges.ts); each family registers as it is made.
    const rpc = rpcMetrics(registers);
    ({ rpcRequests: this.rpcRequests, rpcDuration: this.rpcDuration, lockWait: this.lockWait, rpcConnections: this.rpcConnections } = rpc);
    ({ consensusDuration: this.consensusDuration, consensusRequests: this.consensusRequests } = consensusMetrics(registers));
    const ops = operationMetrics(registers);
    ({ operations: this.operations, operationDuration: this.operationDuration, rollbacks: this.rollbacks } = ops);
    ({ awaitingIntervention: this.awaitingIntervention, manualInterventions: this.manualInterventions, emergencyResponse: this.emergencyResponse } = ops);
    this.dependencyUp = dependencyGauge(registers, () => this.dependencyProbe);
    ({ trafficWeight: this.trafficWeight, activeEnvironment: this.activeEnvironment } = environmentGauges(registers, opts.environments));
    this.breakerState = breakerGauge(registers, opts.breakers);
  }

  /** The readiness probes (postgres, haproxy, docker), wired once they exist; run at each scrape. */
  watchDependencies(probe: DependencyProbe): void {
    this.dependencyProbe = probe;
  }

  /** Every figure an operation's end feeds (the runner calls this for each journaled operation). */
  operationFinished(op: FinishedOperation): void {
    const team = op.team ?? '';
    this.operations.inc({ type: op.type, result: op.status, team });
    this.operationDuration.observe({ team, type: op.type }, op.durationSec);
    if (op.status === 'rolled_back') this.rollbacks.inc({ team, kind: 'automatic' });
    if (op.type === 'rollback.emergency' && op.status === 'succeeded') this.rollbacks.inc({ team, kind: 'emergency' });
    const manual = MANUAL_OPERATIONS[op.type];
    if (manual) this.manualInterventions.inc({ team, kind: manual });
    if (TRAFFIC_OPERATIONS.has(op.type) && op.team) {
      if (needsPerson(op)) this.awaitingIntervention.set({ team }, 1);
      else if (op.status === 'succeeded' || op.status === 'rolled_back') this.awaitingIntervention.set({ team }, 0);
    }
  }

  /**
   * Rollback response times from the operations' own progress: a switch's `rolled-back` event
   * and rollback.emergency's `done` event carry `responseMs` (trigger → all traffic on the good side).
   */
  watchBus(bus: OperationEventBus): () => void {
    const teams = new Map<string, string>();
    const started = (op: OperationRecord): void => void (op.team && teams.set(op.id, op.team));
    const progress = (e: ProgressEvent): void => {
      const team = teams.get(e.operationId);
      if (team && typeof e.responseMs === 'number' && Number.isFinite(e.responseMs) && e.responseMs >= 0) this.emergencyResponse.observe({ team }, e.responseMs / 1000);
    };
    const finished = (e: OperationEnd): void => void teams.delete(e.operationId);
    bus.on('started', started);
    bus.on('progress', progress);
    bus.on('finished', finished);
    return () => {
      bus.off('started', started);
      bus.off('progress', progress);
      bus.off('finished', finished);
    };
  }

  /** A consensus proposal's decision (timeout: no quorum in time). */
  consensusDecided(team: string, outcome: 'approved' | 'denied' | 'timeout', durationSec: number): void {
    this.consensusRequests.inc({ team, outcome });
    this.consensusDuration.observe({ team, result: outcome }, durationSec);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

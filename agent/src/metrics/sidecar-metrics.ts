import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BreakerState, BreakerStatus, OperationRecord, TeamEnvironmentState } from '../store/contract';
import type { OperationEnd, OperationEventBus, ProgressEvent } from '../operations/event-bus';
import { ENVIRONMENTS } from '../../../catalog/teams-file';
import type { SidecarMetricName } from '../../../catalog/metric-names';

/**
 * The sidecar's Prometheus metrics, in a registry of its own (never prom-client's
 * global one) so several sidecars in one test process do not collide.
 * Names follow Prometheus conventions (`_total`, `_seconds`) so
 * `promtool check metrics` passes. Every `sidecar_*` family the generated
 * monitoring uses (catalog/metric-names.ts SIDECAR_METRICS) is
 * registered here; test/integration/metrics-monitoring-parity.test.ts holds the two together.
 */
/** A family the generated monitoring reads: its name must be one the catalog lists. */
const shared = (name: SidecarMetricName): string => name;

export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

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
const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

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
  private dependencyProbe: (() => Promise<Record<string, 'up' | 'down' | 'not_configured'>>) | null = null;

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
    this.rpcRequests = new Counter({
      name: 'sidecar_rpc_requests_total',
      help: 'JSON-RPC requests answered, by method and result (ok or the error code).',
      labelNames: ['method', 'result'],
      registers,
    });
    this.rpcDuration = new Histogram({
      name: 'sidecar_rpc_request_duration_seconds',
      help: 'Time from a JSON-RPC request to its response.',
      labelNames: ['method'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers,
    });
    this.lockWait = new Histogram({
      name: 'sidecar_lock_wait_seconds',
      help: 'Time lock.acquire took, including waiting for the holder (result: acquired or the error code).',
      labelNames: ['result'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers,
    });
    this.consensusDuration = new Histogram({
      name: shared('sidecar_consensus_duration_seconds'),
      help: 'Time from a consensus proposal to its decision, by team and result (approved, denied, timeout).',
      labelNames: ['team', 'result'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    });
    this.operations = new Counter({
      name: shared('sidecar_operations_total'),
      help: 'Journaled operations that ended, by type, final status (succeeded, failed, rolled_back, aborted) and team.',
      labelNames: ['type', 'result', 'team'],
      registers,
    });
    this.operationDuration = new Histogram({
      name: shared('sidecar_operation_duration_seconds'),
      help: 'Journaled operations from start to end, by team and type.',
      labelNames: ['team', 'type'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.rollbacks = new Counter({
      name: shared('sidecar_rollbacks_total'),
      help: 'Rollbacks, by team and kind: automatic (an operation ended rolled_back) or emergency (rollback.emergency succeeded).',
      labelNames: ['team', 'kind'],
      registers,
    });
    this.consensusRequests = new Counter({
      name: shared('sidecar_consensus_requests_total'),
      help: 'Consensus proposals decided, by team and outcome (approved, denied, timeout).',
      labelNames: ['team', 'outcome'],
      registers,
    });
    this.awaitingIntervention = new Gauge({
      name: shared('sidecar_operations_awaiting_intervention'),
      help: 'Per team, 1 after a traffic-moving operation this sidecar ran failed without a consistent end (rollback failed), until one succeeds or rolls back.',
      labelNames: ['team'],
      registers,
    });
    this.manualInterventions = new Counter({
      name: shared('sidecar_manual_interventions_total'),
      help: 'Manual takeovers (rollback.emergency, also from the dashboard emergency stop), by team and kind.',
      labelNames: ['team', 'kind'],
      registers,
    });
    this.emergencyResponse = new Histogram({
      name: shared('sidecar_emergency_response_seconds'),
      help: 'Time from a rollback trigger (SLI breach, failed switch, rollback.emergency) to all traffic on the good side, by team.',
      labelNames: ['team'],
      buckets: [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300],
      registers,
    });
    const dependencyUp = (): (() => Promise<Record<string, 'up' | 'down' | 'not_configured'>>) | null => this.dependencyProbe;
    this.dependencyUp = new Gauge({
      name: shared('sidecar_dependency_up'),
      help: 'Per dependency (postgres, haproxy, docker): 1 when this sidecar reaches it, 0 when not (absent when not configured). Probed at scrape time.',
      labelNames: ['dependency'],
      registers,
      async collect() {
        const probe = dependencyUp();
        if (!probe) return;
        const states = await probe();
        this.reset();
        for (const [dependency, state] of Object.entries(states)) if (state !== 'not_configured') this.set({ dependency }, state === 'up' ? 1 : 0);
      },
    });
    const environments = opts.environments;
    // One store read per scrape feeds both gauges; each collect() asks, the first one reads.
    let pending: Promise<TeamEnvironmentState[] | null> | null = null;
    const readEnvironments = (): Promise<TeamEnvironmentState[] | null> => {
      if (!environments) return Promise.resolve(null);
      pending ??= environments()
        .catch(() => null) // Postgres down: keep the last values; sidecar_dependency_up says why.
        .finally(() => setTimeout(() => (pending = null), 0));
      return pending;
    };
    this.trafficWeight = new Gauge({
      name: shared('sidecar_traffic_weight'),
      help: 'Desired HAProxy weight (0-100) of each team environment, from the coordination store.',
      labelNames: ['team', 'environment'],
      registers,
      async collect() {
        const list = await readEnvironments();
        if (!list) return;
        this.reset();
        for (const t of list) for (const env of ENVIRONMENTS) this.set({ team: t.team, environment: env }, t.weights[env]);
      },
    });
    this.activeEnvironment = new Gauge({
      name: shared('sidecar_active_environment'),
      help: 'Per team environment: 1 for the side recorded active in the coordination store, 0 for the other.',
      labelNames: ['team', 'environment'],
      registers,
      async collect() {
        const list = await readEnvironments();
        if (!list) return;
        this.reset();
        for (const t of list) for (const env of ENVIRONMENTS) this.set({ team: t.team, environment: env }, t.active === env ? 1 : 0);
      },
    });
    this.rpcConnections = new Gauge({ name: 'sidecar_rpc_connections', help: 'Open JSON-RPC WebSocket connections.', registers });
    const breakers = opts.breakers;
    this.breakerState = new Gauge({
      name: shared('sidecar_breaker_state'),
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
      labelNames: ['breaker'],
      registers,
      // Read at scrape time from the store: the breakers are shared by every sidecar.
      async collect() {
        if (!breakers) return;
        try {
          const list = await breakers();
          this.reset();
          for (const b of list) this.set({ breaker: b.name }, BREAKER_STATE_VALUE[b.state]);
        } catch {
          // Postgres down: keep the last values; /readyz reports the outage.
        }
      },
    });
  }

  /** The readiness probes (postgres, haproxy, docker), wired once they exist; run at each scrape. */
  watchDependencies(probe: () => Promise<Record<string, 'up' | 'down' | 'not_configured'>>): void {
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

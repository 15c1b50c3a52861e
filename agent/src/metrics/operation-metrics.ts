import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { shared } from './shared-name';

const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/** What journaled operations did: their ends, durations, rollbacks, and where a person took over or must. */
export function operationMetrics(registers: Registry[]) {
  return {
    operations: new Counter({
      name: shared('sidecar_operations_total'),
      help: 'Journaled operations that ended, by type, final status (succeeded, failed, rolled_back, aborted) and team.',
      labelNames: ['type', 'result', 'team'] as const,
      registers,
    }),
    operationDuration: new Histogram({
      name: shared('sidecar_operation_duration_seconds'),
      help: 'Journaled operations from start to end, by team and type.',
      labelNames: ['team', 'type'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    rollbacks: new Counter({
      name: shared('sidecar_rollbacks_total'),
      help: 'Rollbacks, by team and kind: automatic (an operation ended rolled_back) or emergency (rollback.emergency succeeded).',
      labelNames: ['team', 'kind'] as const,
      registers,
    }),
    awaitingIntervention: new Gauge({
      name: shared('sidecar_operations_awaiting_intervention'),
      help: 'Per team, 1 after a traffic-moving operation this sidecar ran failed without a consistent end (rollback failed), until one succeeds or rolls back.',
      labelNames: ['team'] as const,
      registers,
    }),
    manualInterventions: new Counter({
      name: shared('sidecar_manual_interventions_total'),
      help: 'Manual takeovers (rollback.emergency, also from the dashboard emergency stop), by team and kind.',
      labelNames: ['team', 'kind'] as const,
      registers,
    }),
    emergencyResponse: new Histogram({
      name: shared('sidecar_emergency_response_seconds'),
      help: 'Time from a rollback trigger (SLI breach, failed switch, rollback.emergency) to all traffic on the good side, by team.',
      labelNames: ['team'] as const,
      buckets: [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300],
      registers,
    }),
  };
}

/** Consensus proposals: how each was decided and how long it took. */
export function consensusMetrics(registers: Registry[]) {
  return {
    consensusDuration: new Histogram({
      name: shared('sidecar_consensus_duration_seconds'),
      help: 'Time from a consensus proposal to its decision, by team and result (approved, denied, timeout).',
      labelNames: ['team', 'result'] as const,
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    }),
    consensusRequests: new Counter({
      name: shared('sidecar_consensus_requests_total'),
      help: 'Consensus proposals decided, by team and outcome (approved, denied, timeout).',
      labelNames: ['team', 'outcome'] as const,
      registers,
    }),
  };
}

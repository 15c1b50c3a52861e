/**
 * The sidecar's metric families that the generated monitoring (alert rules,
 * Grafana dashboard) reads: name -> type {labels}: meaning. The sidecar
 * registers each under this name (agent/src/metrics) and library-gen's
 * monitoring refers to no other sidecar_* family.
 */
export const SIDECAR_METRICS = {
  sidecar_operations_total: 'counter {team, type (RPC method, e.g. traffic.switch), result (succeeded|failed|rolled_back|aborted)}: finished operations',
  sidecar_operation_duration_seconds: 'histogram {team, type}: operation duration from start to end',
  sidecar_rollbacks_total: 'counter {team, kind (automatic|emergency)}: rollbacks (an operation ended rolled_back, or rollback.emergency succeeded)',
  sidecar_consensus_requests_total: 'counter {team, outcome (approved|denied|timeout)}: consensus proposals decided',
  sidecar_consensus_duration_seconds: 'histogram {team, result}: time from proposal to decision',
  sidecar_dependency_up: 'gauge {dependency (postgres|haproxy|docker)}: 1 when reachable from this sidecar (probed at scrape time)',
  sidecar_operations_awaiting_intervention: 'gauge {team}: 1 while the last traffic-moving operation this sidecar ran failed without a consistent end',
  sidecar_manual_interventions_total: 'counter {team, kind (emergency_rollback)}: manual takeovers (rollback.emergency, also the dashboard emergency stop)',
  sidecar_emergency_response_seconds: 'histogram {team}: time from a rollback trigger (SLI breach, failed switch, rollback.emergency) to all traffic on the good side',
  sidecar_traffic_weight: 'gauge {team, environment}: desired HAProxy weight',
  sidecar_active_environment: 'gauge {team, environment}: 1 for the side serving traffic',
  sidecar_breaker_state: 'gauge {breaker}: 0 closed, 1 half_open, 2 open',
} as const satisfies Record<string, string>;

export type SidecarMetricName = keyof typeof SIDECAR_METRICS;

import { stringify } from 'yaml';

/**
 * monitoring/: Prometheus alert rules for the critical and warning alerts
 * and a Grafana dashboard for its deployment and operational metrics. The
 * metric names are the sidecar's contract (GET /metrics), listed in
 * catalog/metric-names.ts SIDECAR_METRICS so tests and docs can check the two agree.
 */

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const critical = (alert: string, expr: string, forDuration: string, summary: string, description: string): Rule => ({
  alert,
  expr,
  ...(forDuration ? { for: forDuration } : {}),
  labels: { severity: 'critical', component: 'jenkins-selfmanage' },
  annotations: { summary, description },
});
const warning = (alert: string, expr: string, forDuration: string, summary: string, description: string): Rule => ({
  ...critical(alert, expr, forDuration, summary, description),
  labels: { severity: 'warning', component: 'jenkins-selfmanage' },
});

export function alertRules(): object {
  return {
    groups: [
      {
        name: 'jenkins-selfmanage-critical',
        rules: [
          critical(
            'JsmSelfManagementFailure',
            'sum by (team, type) (increase(sidecar_operations_total{result="failed"}[15m])) > 0',
            '',
            'Self-management operation failed for team {{ $labels.team }}',
            '{{ $labels.type }} failed without completing its rollback in the last 15 minutes. Run `sidecarctl status` and `sidecarctl audit` on the sidecar host.',
          ),
          critical(
            'JsmConsensusTimeout',
            'sum by (team) (increase(sidecar_consensus_requests_total{outcome="timeout"}[15m])) > 0',
            '',
            'Consensus timed out for team {{ $labels.team }}',
            'A consensus proposal got no quorum in time: some sidecar instances are down or partitioned.',
          ),
          critical(
            'JsmEmergencyRollbackTriggered',
            'sum by (team, kind) (increase(sidecar_rollbacks_total[10m])) > 0',
            '',
            'Rollback triggered for team {{ $labels.team }} ({{ $labels.kind }})',
            'Traffic was moved back to the last known good environment. Check the switch journal with `sidecarctl audit`.',
          ),
          critical(
            'JsmCoordinationDatabaseFailure',
            'min by (instance) (sidecar_dependency_up{dependency="postgres"}) == 0',
            '1m',
            'Sidecar {{ $labels.instance }} cannot reach the coordination database',
            'Locks, consensus and the operations journal are unavailable; no switch can start.',
          ),
        ],
      },
      {
        name: 'jenkins-selfmanage-warning',
        rules: [
          warning(
            'JsmDeploymentDurationExceeded',
            'histogram_quantile(0.95, sum by (team, le) (rate(sidecar_operation_duration_seconds_bucket{type="traffic.switch"}[1h]))) > 1800',
            '5m',
            'Switches of team {{ $labels.team }} take longer than 30 minutes',
            'The 95th percentile of traffic.switch duration over the last hour is above the 30 minute target.',
          ),
          warning(
            'JsmRollbackRateHigh',
            'sum by (team) (increase(sidecar_rollbacks_total[1d])) / clamp_min(sum by (team) (increase(sidecar_operations_total{type="traffic.switch"}[1d])), 1) > 0.05',
            '15m',
            'More than 5% of switches of team {{ $labels.team }} rolled back today',
            'The rollback frequency target is below 5%.',
          ),
          warning(
            'JsmManualInterventionRequired',
            'sum by (team) (sidecar_operations_awaiting_intervention) > 0',
            '1m',
            'An operation of team {{ $labels.team }} waits for a person',
            'Run `sidecarctl status` to see which operation stopped and why.',
          ),
          warning(
            'JsmExternalMonitoringDegraded',
            'min by (instance, dependency) (sidecar_dependency_up{dependency=~"haproxy|docker"}) == 0 or avg by (instance) (avg_over_time(up{job="jenkins-sidecar"}[10m])) < 0.9',
            '5m',
            'Monitoring of the self-management path is degraded on {{ $labels.instance }}',
            'The sidecar cannot see HAProxy or Docker, or Prometheus cannot scrape the sidecar reliably.',
          ),
        ],
      },
    ],
  };
}

interface Panel {
  title: string;
  type: 'stat' | 'timeseries';
  expr: string;
  unit: string;
  legend?: string;
}

const PANELS: { row: string; panels: Panel[] }[] = [
  {
    row: 'Deployment metrics',
    panels: [
      { title: 'Deployment success rate (target > 99%)', type: 'stat', unit: 'percentunit', expr: 'sum(increase(sidecar_operations_total{type="traffic.switch",result="succeeded"}[7d])) / clamp_min(sum(increase(sidecar_operations_total{type="traffic.switch"}[7d])), 1)' },
      { title: 'Deployment duration p95 (target < 30m)', type: 'timeseries', unit: 's', legend: '{{team}}', expr: 'histogram_quantile(0.95, sum by (team, le) (rate(sidecar_operation_duration_seconds_bucket{type="traffic.switch"}[1h])))' },
      { title: 'Rollback frequency (target < 5%)', type: 'stat', unit: 'percentunit', expr: 'sum(increase(sidecar_rollbacks_total[7d])) / clamp_min(sum(increase(sidecar_operations_total{type="traffic.switch"}[7d])), 1)' },
      { title: 'Consensus time p95 (target < 5m)', type: 'timeseries', unit: 's', legend: '{{team}}', expr: 'histogram_quantile(0.95, sum by (team, le) (rate(sidecar_consensus_duration_seconds_bucket[1h])))' },
    ],
  },
  {
    row: 'Operational metrics',
    panels: [
      { title: 'Self-management availability (target > 99.9%)', type: 'stat', unit: 'percentunit', expr: 'avg(avg_over_time(up{job="jenkins-sidecar"}[7d]))' },
      { title: 'Coordination health (target > 99.5%)', type: 'stat', unit: 'percentunit', expr: 'avg(avg_over_time(sidecar_dependency_up{dependency="postgres"}[7d]))' },
      { title: 'Emergency response time p95 (target < 30s)', type: 'timeseries', unit: 's', legend: '{{team}}', expr: 'histogram_quantile(0.95, sum by (team, le) (rate(sidecar_emergency_response_seconds_bucket[1h])))' },
      { title: 'Manual intervention frequency (target < 1%)', type: 'stat', unit: 'percentunit', expr: 'sum(increase(sidecar_manual_interventions_total[7d])) / clamp_min(sum(increase(sidecar_operations_total[7d])), 1)' },
      { title: 'Traffic weight by environment', type: 'timeseries', unit: 'short', legend: '{{team}} {{environment}}', expr: 'sidecar_traffic_weight' },
      { title: 'Active environment (1 = serving)', type: 'timeseries', unit: 'short', legend: '{{team}} {{environment}}', expr: 'max by (team, environment) (sidecar_active_environment)' },
      { title: 'Circuit breakers (0 closed, 1 half open, 2 open)', type: 'timeseries', unit: 'short', legend: '{{breaker}}', expr: 'sidecar_breaker_state' },
    ],
  },
];

export function grafanaDashboard(): object {
  const panels: object[] = [];
  let id = 1;
  let y = 0;
  for (const row of PANELS) {
    panels.push({ id: id++, type: 'row', title: row.row, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    row.panels.forEach((p, i) => {
      panels.push({
        id: id++,
        type: p.type,
        title: p.title,
        datasource: { type: 'prometheus', uid: '${datasource}' },
        gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: y + Math.floor(i / 2) * 8 },
        fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
        options: {},
        targets: [{ refId: 'A', expr: p.expr, ...(p.legend ? { legendFormat: p.legend } : {}) }],
      });
    });
    y += Math.ceil(row.panels.length / 2) * 8;
  }
  return {
    title: 'Jenkins self-management',
    uid: 'jenkins-selfmanage',
    tags: ['jenkins', 'jenkins-selfmanage'],
    timezone: 'utc',
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: 'now-7d', to: 'now' },
    refresh: '1m',
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' }] },
    annotations: { list: [] },
    panels,
  };
}

export function renderMonitoring(): Map<string, string> {
  const header = '# Generated by library-gen (jenkins-selfmanage). Do not edit: regenerate.\n';
  return new Map([
    ['monitoring/prometheus-rules.yml', header + stringify(alertRules(), { lineWidth: 0 })],
    ['monitoring/grafana-dashboard.json', JSON.stringify(grafanaDashboard(), null, 2) + '\n'],
  ]);
}

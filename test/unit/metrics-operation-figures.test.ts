import { SidecarMetrics } from '../../agent/src/metrics/sidecar-metrics';

/** How an operation's end feeds the figures the alert rules read (a real prom-client registry, no store). */
async function value(m: SidecarMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = await m.registry.getSingleMetric(name)!.get();
  const hit = metric.values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
  return hit?.value;
}

it('rollbacks, emergency response, manual interventions and awaiting-intervention follow the operations that end', async () => {
  const m = new SidecarMetrics({ instanceId: 'unit', defaultMetrics: false });
  m.operationFinished({ type: 'traffic.switch', team: 'devops', status: 'rolled_back', durationSec: 40 });
  m.operationFinished({ type: 'traffic.switch', team: 'devops', status: 'failed', durationSec: 5 });
  expect(await value(m, 'sidecar_operations_awaiting_intervention', { team: 'devops' })).toBe(1);
  m.operationFinished({ type: 'rollback.emergency', team: 'devops', status: 'succeeded', durationSec: 3 });
  expect(await value(m, 'sidecar_operations_awaiting_intervention', { team: 'devops' })).toBe(0);
  expect(await value(m, 'sidecar_rollbacks_total', { team: 'devops', kind: 'automatic' })).toBe(1);
  expect(await value(m, 'sidecar_rollbacks_total', { team: 'devops', kind: 'emergency' })).toBe(1);
  expect(await value(m, 'sidecar_manual_interventions_total', { team: 'devops', kind: 'emergency_rollback' })).toBe(1);
  const hist = await m.registry.getSingleMetric('sidecar_emergency_response_seconds')!.get();
  expect((hist.values as Array<{ value: number; metricName?: string }>).find((v) => v.metricName === 'sidecar_emergency_response_seconds_sum')?.value).toBe(3);
  expect(await value(m, 'sidecar_operations_total', { type: 'traffic.switch', result: 'failed', team: 'devops' })).toBe(1);
  m.consensusDecided('devops', 'timeout', 300);
  expect(await value(m, 'sidecar_consensus_requests_total', { team: 'devops', outcome: 'timeout' })).toBe(1);
});

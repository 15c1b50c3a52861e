import { SidecarMetrics } from '../../agent/src/metrics/sidecar-metrics';
import { OperationEventBus } from '../../agent/src/operations/event-bus';
import type { OperationRecord } from '../../agent/src/store/contract';

/** How an operation's end feeds the figures the alert rules read (a real prom-client registry, no store). */
async function value(m: SidecarMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = await m.registry.getSingleMetric(name)!.get();
  const hit = metric.values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
  return hit?.value;
}

it('rollbacks, emergency response, manual interventions and awaiting-intervention follow the operations that end', async () => {
  const m = new SidecarMetrics({ instanceId: 'unit', defaultMetrics: false });
  m.operationFinished({ type: 'traffic.switch', team: 'devops', status: 'rolled_back', durationSec: 40 });
  m.operationFinished({ type: 'traffic.switch', team: 'devops', status: 'failed', durationSec: 1, error: { code: 'FENCED', data: {} } });
  expect(await value(m, 'sidecar_operations_awaiting_intervention', { team: 'devops' })).toBe(0); // a refusal moved nothing
  m.operationFinished({ type: 'traffic.switch', team: 'devops', status: 'failed', durationSec: 5, error: { code: 'DEPENDENCY_DOWN', data: { operationStatus: 'failed' } } });
  expect(await value(m, 'sidecar_operations_awaiting_intervention', { team: 'devops' })).toBe(1);
  m.operationFinished({ type: 'rollback.emergency', team: 'devops', status: 'succeeded', durationSec: 3 });
  expect(await value(m, 'sidecar_operations_awaiting_intervention', { team: 'devops' })).toBe(0);
  expect(await value(m, 'sidecar_rollbacks_total', { team: 'devops', kind: 'automatic' })).toBe(1);
  expect(await value(m, 'sidecar_rollbacks_total', { team: 'devops', kind: 'emergency' })).toBe(1);
  expect(await value(m, 'sidecar_manual_interventions_total', { team: 'devops', kind: 'emergency_rollback' })).toBe(1);
  expect(await value(m, 'sidecar_operations_total', { type: 'traffic.switch', result: 'failed', team: 'devops' })).toBe(2);
  m.consensusDecided('devops', 'timeout', 300);
  expect(await value(m, 'sidecar_consensus_requests_total', { team: 'devops', outcome: 'timeout' })).toBe(1);
});

it('emergency response time comes from the responseMs the switch (rolled-back) and rollback.emergency (done) report', async () => {
  const m = new SidecarMetrics({ instanceId: 'unit', defaultMetrics: false });
  const bus = new OperationEventBus();
  const stop = m.watchBus(bus);
  bus.emit('started', { id: 'op1', team: 'devops', type: 'traffic.switch' } as OperationRecord);
  bus.emit('progress', { operationId: 'op1', phase: 'step', message: 'moving' });
  bus.emit('progress', { operationId: 'op1', phase: 'rolled-back', message: 'rolled back', responseMs: 1500 });
  bus.emit('finished', { operationId: 'op1', status: 'rolled_back' });
  bus.emit('progress', { operationId: 'op1', phase: 'late', message: 'after the end', responseMs: 99_000 });
  bus.emit('started', { id: 'op2', team: 'devops', type: 'rollback.emergency' } as OperationRecord);
  bus.emit('progress', { operationId: 'op2', phase: 'done', message: 'all on blue', responseMs: 500 });
  stop();
  const values = (await m.registry.getSingleMetric('sidecar_emergency_response_seconds')!.get()).values as Array<{ value: number; metricName?: string }>;
  expect(values.find((v) => v.metricName === 'sidecar_emergency_response_seconds_count')?.value).toBe(2);
  expect(values.find((v) => v.metricName === 'sidecar_emergency_response_seconds_sum')?.value).toBe(2);
});

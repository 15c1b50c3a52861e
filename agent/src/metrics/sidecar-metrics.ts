import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BreakerState, BreakerStatus } from '../store/contract';

/**
 * The sidecar's Prometheus metrics, in a registry of its own (never prom-client's
 * global one) so several sidecars in one test process do not collide.
 * Names follow Prometheus conventions (`_total`, `_seconds`) so
 * `promtool check metrics` passes.
 */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export class SidecarMetrics {
  readonly registry = new Registry();
  readonly rpcRequests: Counter<'method' | 'result'>;
  readonly rpcDuration: Histogram<'method'>;
  readonly lockWait: Histogram<'result'>;
  readonly consensusDuration: Histogram<'result'>;
  readonly operations: Counter<'type' | 'result'>;
  readonly breakerState: Gauge<'breaker'>;
  readonly rpcConnections: Gauge;

  constructor(opts: { instanceId: string; breakers?: () => Promise<BreakerStatus[]>; defaultMetrics?: boolean }) {
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
      name: 'sidecar_consensus_duration_seconds',
      help: 'Time from a consensus proposal to its decision.',
      labelNames: ['result'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    });
    this.operations = new Counter({
      name: 'sidecar_operations_total',
      help: 'Journaled operations that ended, by type and final status.',
      labelNames: ['type', 'result'],
      registers,
    });
    this.rpcConnections = new Gauge({ name: 'sidecar_rpc_connections', help: 'Open JSON-RPC WebSocket connections.', registers });
    const breakers = opts.breakers;
    this.breakerState = new Gauge({
      name: 'sidecar_breaker_state',
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

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

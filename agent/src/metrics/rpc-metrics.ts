import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600];

/** The transport's figures: requests, their latency, open connections, and how long lock.acquire waited. */
export function rpcMetrics(registers: Registry[]) {
  return {
    rpcRequests: new Counter({
      name: 'sidecar_rpc_requests_total',
      help: 'JSON-RPC requests answered, by method and result (ok or the error code).',
      labelNames: ['method', 'result'] as const,
      registers,
    }),
    rpcDuration: new Histogram({
      name: 'sidecar_rpc_request_duration_seconds',
      help: 'Time from a JSON-RPC request to its response.',
      labelNames: ['method'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    lockWait: new Histogram({
      name: 'sidecar_lock_wait_seconds',
      help: 'Time lock.acquire took, including waiting for the holder (result: acquired or the error code).',
      labelNames: ['result'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    rpcConnections: new Gauge({ name: 'sidecar_rpc_connections', help: 'Open JSON-RPC WebSocket connections.', registers }),
  };
}

import WebSocket from 'ws';

/**
 * One JSON-RPC call over a fresh WebSocket, for sidecarctl: connect with the
 * bearer token, send, relay `progress` notifications, resolve with the result
 * or the error object. Connection and authentication problems reject with
 * ConnectError (sidecarctl exit 4). Deliberately light: ws and node builtins only.
 */
export class ConnectError extends Error {
  override readonly name = 'ConnectError';
  /** True when trying again may work (nothing listening yet, connection lost, sidecar shutting down); false for a refused token. */
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: { code?: string; [k: string]: unknown };
}

export type CallResult = { ok: true; result: unknown } | { ok: false; error: RpcErrorObject };

export interface CallOptions {
  url: string;
  token: string;
  method: string;
  params: Record<string, unknown>;
  onProgress?: (params: Record<string, unknown>) => void;
  connectTimeoutMs?: number;
}

export function callOnce(opts: CallOptions): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let lastOperationId: string | undefined;
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
    };
    let ws: WebSocket;
    try {
      ws = new WebSocket(opts.url, {
        headers: { Authorization: `Bearer ${opts.token}` },
        handshakeTimeout: opts.connectTimeoutMs ?? 10_000,
        maxPayload: 256 * 1024 * 1024,
        perMessageDeflate: false,
      });
    } catch (err) {
      reject(new ConnectError(`invalid SIDECAR_URL ${opts.url}: ${(err as Error).message}`));
      return;
    }
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (b: Buffer) => {
        if (body.length < 4096) body += b.toString();
      });
      res.on('end', () =>
        done(() => {
          ws.terminate();
          const auth = res.statusCode === 401 ? ' (check SIDECAR_TOKEN)' : '';
          reject(new ConnectError(`sidecar at ${opts.url} refused the connection: HTTP ${res.statusCode}${auth}: ${body.trim()}`, res.statusCode === 503));
        }),
      );
    });
    ws.on('error', (err) => done(() => reject(new ConnectError(`cannot connect to the sidecar at ${opts.url}: ${err.message}`, true))));
    ws.on('open', () => {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: opts.method, params: opts.params }));
    });
    ws.on('message', (data) => {
      let msg: { id?: unknown; method?: string; params?: Record<string, unknown>; result?: unknown; error?: RpcErrorObject };
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (msg.method === 'progress' && msg.params) {
        if (typeof msg.params.operationId === 'string') lastOperationId = msg.params.operationId;
        opts.onProgress?.(msg.params);
        return;
      }
      if (msg.id !== 1) return;
      done(() => {
        ws.close(1000);
        resolve(msg.error ? { ok: false, error: msg.error } : { ok: true, result: msg.result ?? null });
      });
    });
    ws.on('close', (code, reason) =>
      done(() => {
        const follow = lastOperationId
          ? `; operation ${lastOperationId} goes on in the sidecar: follow it with sidecarctl call operation.attach --params '{"operationId":"${lastOperationId}"}'`
          : '';
        reject(new ConnectError(`connection to ${opts.url} closed before the result (code ${code}${reason.length ? `: ${reason.toString()}` : ''})${follow}`, true));
      }),
    );
  });
}

import type { IncomingMessage as HttpResponse } from 'node:http';
import WebSocket from 'ws';

/**
 * The JSON-RPC client of the sidecar's WebSocket endpoint: a persistent
 * connection (tests, bench, tooling) and, on top of it, the one call sidecarctl
 * makes per run (callOnce). Connection and authentication problems reject with
 * ConnectError (sidecarctl exit 4). Deliberately light: ws and node builtins only.
 */
export class ConnectError extends Error {
  override readonly name = 'ConnectError';
  /** True when trying again may work (nothing listening yet, connection lost, sidecar shutting down); false for a refused token. */
  constructor(
    message: string,
    readonly retryable = false,
    /** The HTTP status of a refused upgrade (401 token, 429 too many connections, 503 shutting down). */
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

export interface RpcError {
  code: number;
  message: string;
  data?: { code?: string; [k: string]: unknown };
}
export type RpcReply = { ok: true; result: unknown } | { ok: false; error: RpcError };

type Progress = (p: Record<string, unknown>) => void;

interface Pending {
  resolve(r: RpcReply): void;
  reject(e: Error): void;
  onProgress?: Progress;
  /** The operation this call's progress named last: it goes on in the sidecar if the connection drops. */
  lastOperationId?: string;
}

interface IncomingMessage {
  id?: unknown;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: RpcError;
}

/** Large answers (audit pages, backup listings) fit; ws's own default is 100 MiB. */
const MAX_PAYLOAD = 256 * 1024 * 1024;

export class RpcConnection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Every notification received, in order (progress of all calls). */
  readonly notifications: Array<{ method: string; params: Record<string, unknown> }> = [];

  private constructor(
    readonly ws: WebSocket,
    private readonly url: string,
  ) {
    ws.on('message', (data) => this.receive(data));
    // An error after the upgrade is followed by 'close', which settles every pending call (open() left a listener for it).
    ws.on('close', (code, reason) => this.closed(code, reason));
  }

  static open(url: string, token: string, opts: { timeoutMs?: number } = {}): Promise<RpcConnection> {
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, handshakeTimeout: opts.timeoutMs ?? 10_000, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
      } catch (err) {
        reject(new ConnectError(`invalid SIDECAR_URL ${url}: ${(err as Error).message}`));
        return;
      }
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        ws.off('open', onOpen).off('unexpected-response', onRefused).off('error', onError);
        fn();
      };
      const onOpen = (): void => settle(() => resolve(new RpcConnection(ws, url)));
      const onRefused = (_req: unknown, res: HttpResponse): void => {
        let body = '';
        res.on('data', (b: Buffer) => {
          if (body.length < 4096) body += b.toString();
        });
        res.on('end', () => {
          const auth = res.statusCode === 401 ? ' (check SIDECAR_TOKEN)' : '';
          settle(() => reject(new ConnectError(`sidecar at ${url} refused the connection: HTTP ${res.statusCode}${auth}: ${body.trim()}`, res.statusCode === 503, res.statusCode)));
          ws.terminate();
        });
      };
      const onError = (err: Error): void => settle(() => reject(new ConnectError(`cannot connect to the sidecar at ${url}: ${err.message}`, true)));
      // Whatever the handshake's end, a late 'error' (terminate() while connecting emits one) has a listener.
      ws.on('error', () => undefined);
      ws.on('open', onOpen).on('unexpected-response', onRefused).on('error', onError);
    });
  }

  call(method: string, params: Record<string, unknown> = {}, onProgress?: Progress): Promise<RpcReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(onProgress ? { onProgress } : {}) });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  /** Sends raw text and resolves with the next message that is not a notification. */
  raw(text: string): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      const onMessage = (data: WebSocket.RawData): void => {
        const msg = JSON.parse(data.toString()) as Record<string, unknown>;
        if (msg.method) return;
        this.ws.off('message', onMessage);
        resolve(msg);
      };
      this.ws.on('message', onMessage);
      this.ws.send(text);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close(1000);
    });
  }

  private receive(data: WebSocket.RawData): void {
    let msg: IncomingMessage;
    try {
      msg = JSON.parse(data.toString()) as IncomingMessage;
    } catch {
      return;
    }
    if (msg.method && msg.id === undefined) {
      const params = msg.params ?? {};
      this.notifications.push({ method: msg.method, params });
      if (msg.method !== 'progress') return;
      const opId = typeof params.operationId === 'string' ? params.operationId : undefined;
      // Progress goes to every pending call that asked for it; callers filter by operationId.
      for (const p of this.pending.values()) {
        if (opId !== undefined) p.lastOperationId = opId;
        p.onProgress?.(params);
      }
      return;
    }
    const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
    if (!p) return;
    this.pending.delete(msg.id as number);
    p.resolve(msg.error ? { ok: false, error: msg.error } : { ok: true, result: msg.result ?? null });
  }

  private closed(code: number, reason: Buffer): void {
    for (const p of this.pending.values()) {
      const follow = p.lastOperationId
        ? `; operation ${p.lastOperationId} goes on in the sidecar: follow it with sidecarctl call operation.attach --params '{"operationId":"${p.lastOperationId}"}'`
        : '';
      p.reject(new ConnectError(`connection to ${this.url} closed before the result (code ${code}${reason.length ? `: ${reason.toString()}` : ''})${follow}`, true));
    }
    this.pending.clear();
  }
}

export interface CallOptions {
  url: string;
  token: string;
  method: string;
  params: Record<string, unknown>;
  onProgress?: Progress;
  connectTimeoutMs?: number;
}

/** One call over a fresh connection (sidecarctl): connect with the bearer token, send, relay progress, close. */
export async function callOnce(opts: CallOptions): Promise<RpcReply> {
  const conn = await RpcConnection.open(opts.url, opts.token, opts.connectTimeoutMs === undefined ? {} : { timeoutMs: opts.connectTimeoutMs });
  try {
    return await conn.call(opts.method, opts.params, opts.onProgress);
  } finally {
    conn.ws.close(1000);
  }
}

import WebSocket from 'ws';

/**
 * A persistent JSON-RPC client over one WebSocket (tests, bench, other
 * sidecars' tooling). sidecarctl uses the one-shot cli/rpc-client.ts instead.
 */
export interface RpcError {
  code: number;
  message: string;
  data?: { code?: string; [k: string]: unknown };
}
export type RpcReply = { ok: true; result: unknown } | { ok: false; error: RpcError };

interface Pending {
  resolve(r: RpcReply): void;
  reject(e: Error): void;
  onProgress?: (p: Record<string, unknown>) => void;
}

export class RpcConnection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Every notification received, in order (progress of all calls). */
  readonly notifications: Array<{ method: string; params: Record<string, unknown> }> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let msg: { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: RpcError };
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (msg.method && msg.id === undefined) {
        this.notifications.push({ method: msg.method, params: msg.params ?? {} });
        const opId = msg.params?.operationId;
        // Progress goes to every pending call that asked for it; callers filter by operationId.
        for (const p of this.pending.values()) if (typeof opId === 'string') p.onProgress?.(msg.params ?? {});
        return;
      }
      const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
      if (!p) return;
      this.pending.delete(msg.id as number);
      p.resolve(msg.error ? { ok: false, error: msg.error } : { ok: true, result: msg.result ?? null });
    });
    ws.on('close', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`connection closed (${code}) before the reply`));
      this.pending.clear();
    });
  }

  static open(url: string, token: string, opts: { timeoutMs?: number } = {}): Promise<RpcConnection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, handshakeTimeout: opts.timeoutMs ?? 10_000, perMessageDeflate: false });
      ws.once('open', () => resolve(new RpcConnection(ws)));
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
      });
      ws.once('error', reject);
    });
  }

  call(method: string, params: Record<string, unknown> = {}, onProgress?: (p: Record<string, unknown>) => void): Promise<RpcReply> {
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
}

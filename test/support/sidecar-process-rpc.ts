import { request } from 'node:http';
import WebSocket from 'ws';

/**
 * A minimal JSON-RPC 2.0 client over `ws` for tests and benchmarks that talk
 * to a real sidecar: raw frames in (to send malformed input on purpose), every
 * answer kept, replies matched by id. Every wait is bounded.
 */
export interface RpcMessage {
  jsonrpc?: string;
  id?: string | number | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

export class RpcClient {
  private nextId = 1;
  private readonly waiters = new Map<string | number, (m: RpcMessage) => void>();
  /** Answers that carried no id we were waiting for (id null: parse errors and invalid requests). */
  readonly unmatched: RpcMessage[] = [];
  readonly notifications: RpcMessage[] = [];
  private nullWaiters: Array<(m: RpcMessage) => void> = [];
  closed: { code: number; reason: string } | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let msg: RpcMessage;
      try {
        msg = JSON.parse(data.toString()) as RpcMessage;
      } catch {
        msg = { error: { code: 0, message: `unparseable answer: ${data.toString().slice(0, 200)}` } };
      }
      if (msg.method && msg.id === undefined) {
        this.notifications.push(msg);
        return;
      }
      const w = msg.id !== undefined && msg.id !== null ? this.waiters.get(msg.id) : undefined;
      if (w) {
        this.waiters.delete(msg.id as string | number);
        w(msg);
        return;
      }
      const nw = this.nullWaiters.shift();
      if (nw) nw(msg);
      else this.unmatched.push(msg);
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      // Nothing more will come: fail every pending call now rather than at its timeout.
      const gone: RpcMessage = { jsonrpc: '2.0', id: null, error: { code: 0, message: `connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''}) before an answer` } };
      for (const w of [...this.waiters.values(), ...this.nullWaiters]) w(gone);
      this.waiters.clear();
      this.nullWaiters = [];
    });
  }

  static connect(url: string, token: string | null, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<RpcClient> {
    return new Promise((ok, fail) => {
      const headers: Record<string, string> = { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...opts.headers };
      const ws = new WebSocket(url, { headers, handshakeTimeout: opts.timeoutMs ?? 10_000, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
      ws.once('open', () => ok(new RpcClient(ws)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => fail(new UpgradeRefused(res.statusCode ?? 0, body.trim())));
      });
      ws.once('error', (err) => fail(err));
    });
  }

  /** One call; resolves with the whole answer (result or error). */
  call(method: string, params?: Record<string, unknown>, timeoutMs = 15_000): Promise<RpcMessage> {
    const id = this.nextId++;
    return this.sendAndWait(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) }), id, timeoutMs);
  }

  /** Sends `text` as it is; waits for the answer with `id` (or, for id null, the next id-less answer). */
  sendAndWait(text: string, id: string | number | null, timeoutMs = 15_000): Promise<RpcMessage> {
    return new Promise((ok, fail) => {
      const t = setTimeout(() => {
        if (id === null) this.nullWaiters = this.nullWaiters.filter((w) => w !== done);
        else this.waiters.delete(id);
        fail(new Error(`no answer within ${timeoutMs} ms to ${text.slice(0, 120)}`));
      }, timeoutMs);
      const done = (m: RpcMessage): void => {
        clearTimeout(t);
        ok(m);
      };
      if (id === null) this.nullWaiters.push(done);
      else this.waiters.set(id, done);
      this.ws.send(text, (err) => {
        if (err) {
          clearTimeout(t);
          fail(err);
        }
      });
    });
  }

  /** Next available id, for callers building raw frames. */
  takeId(): number {
    return this.nextId++;
  }

  close(): Promise<void> {
    return new Promise((ok) => {
      if (this.ws.readyState === WebSocket.CLOSED) return ok();
      const t = setTimeout(() => {
        this.ws.terminate();
        ok();
      }, 2_000);
      this.ws.once('close', () => {
        clearTimeout(t);
        ok();
      });
      this.ws.close();
    });
  }
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused with HTTP ${status}: ${body}`);
  }
}

/** Tries the upgrade; resolves with the HTTP status it was refused with, or 101 when it succeeded (then closes). */
export async function upgradeStatus(url: string, token: string | null, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  try {
    const c = await RpcClient.connect(url, token, { headers });
    await c.close();
    return { status: 101, body: '' };
  } catch (err) {
    if (err instanceof UpgradeRefused) return { status: err.status, body: err.body };
    throw err;
  }
}

/** GET on the sidecar's HTTP listener; bounded. */
export function httpGet(url: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { method: 'GET', headers, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', fail);
    req.end();
  });
}

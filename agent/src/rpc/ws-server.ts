import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { SidecarMetrics } from '../metrics/sidecar-metrics';
import type { RunnerLog } from '../operations/runner';
import type { Dispatcher } from './dispatcher';
import type { Principal } from './principal';
import type { TokenAuthenticator } from './token-auth';

/**
 * JSON-RPC over WebSocket at /rpc. Authentication happens on the HTTP upgrade
 * request, before any WebSocket exists: a missing or wrong bearer token gets
 * HTTP 401, a token in the query string (it would end up in proxy and access
 * logs) gets 401 too, and a token over its connection limit gets 429.
 */
export interface RpcServerDeps {
  auth: TokenAuthenticator;
  dispatcher: Dispatcher;
  maxPayloadBytes: number;
  maxConnectionsPerToken: number;
  log: RunnerLog;
  metrics?: SidecarMetrics;
  /** Ping period to find dead peers (a half-open TCP connection would pin its limits). */
  pingIntervalMs?: number;
}

export interface RpcServerHandle {
  /** Refuses new upgrades from now on; open sockets stay until closeAll(). */
  stopAccepting(): void;
  closeAll(code?: number, reason?: string): Promise<void>;
  connectionCount(): number;
}

const QUERY_TOKEN_KEYS = ['token', 'access_token', 'bearer', 'authorization', 'auth', 'sidecar_token'];

function refuse(socket: Duplex, status: number, reason: string, message: string, extra: Record<string, string> = {}): void {
  const body = `${message}\n`;
  const headers = { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...extra };
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
}

/** One authenticated socket: messages to the dispatcher, pings to find a dead peer, bookkeeping on close. */
function serveSocket(ws: WebSocket, principal: Principal, deps: RpcServerDeps, sockets: Set<WebSocket>, onClosed: () => void): void {
  sockets.add(ws);
  deps.metrics?.rpcConnections.set(sockets.size);
  const closed = new AbortController();
  let alive = true;
  ws.on('pong', () => {
    alive = true;
  });
  const ping = setInterval(() => {
    if (!alive) return ws.terminate();
    alive = false;
    ws.ping();
  }, deps.pingIntervalMs ?? 30_000);
  ping.unref();
  const conn = {
    principal,
    signal: closed.signal,
    send: (text: string) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
  };
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString();
    deps.dispatcher.handle(text, conn).catch((err: unknown) => deps.log.error('RPC dispatch failed', { error: String(err) }));
  });
  ws.on('error', (err) => deps.log.warn('RPC socket error', { tokenId: principal.tokenId, error: err.message }));
  ws.on('close', () => {
    clearInterval(ping);
    closed.abort();
    sockets.delete(ws);
    deps.metrics?.rpcConnections.set(sockets.size);
    onClosed();
  });
}

export function attachRpcServer(server: Server, deps: RpcServerDeps): RpcServerHandle {
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxPayloadBytes, perMessageDeflate: false });
  const perToken = new Map<string, number>();
  const sockets = new Set<WebSocket>();
  let accepting = true;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://sidecar.invalid');
    if (url.pathname !== '/rpc') return refuse(socket, 404, 'Not Found', 'no WebSocket endpoint here; JSON-RPC is at /rpc');
    if (!accepting) return refuse(socket, 503, 'Service Unavailable', 'the sidecar is shutting down; retry against another sidecar or after restart');
    const leaked = [...url.searchParams.keys()].find((k) => QUERY_TOKEN_KEYS.includes(k.toLowerCase()));
    if (leaked) {
      deps.log.warn('refused a token in the query string', { remote: req.socket.remoteAddress });
      return refuse(socket, 401, 'Unauthorized', `refused: a token in the query string (${leaked}=) ends up in logs; send it as "Authorization: Bearer <token>" and rotate it`, {
        'WWW-Authenticate': 'Bearer',
      });
    }
    const auth = deps.auth.authenticate(req.headers.authorization);
    if (!auth.ok) {
      deps.log.warn('refused an RPC connection', { remote: req.socket.remoteAddress, reason: auth.reason });
      return refuse(socket, 401, 'Unauthorized', auth.reason, { 'WWW-Authenticate': 'Bearer' });
    }
    const principal = auth.principal;
    const open = perToken.get(principal.tokenId) ?? 0;
    if (open >= deps.maxConnectionsPerToken) {
      return refuse(socket, 429, 'Too Many Requests', `token ${principal.tokenId} already has ${open} connections open (limit ${deps.maxConnectionsPerToken}); close some`);
    }
    perToken.set(principal.tokenId, open + 1);
    wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws, principal, deps, sockets, () => {
      const left = (perToken.get(principal.tokenId) ?? 1) - 1;
      if (left > 0) perToken.set(principal.tokenId, left);
      else perToken.delete(principal.tokenId);
    }));
  });

  return {
    stopAccepting() {
      accepting = false;
    },
    async closeAll(code = 1001, reason = 'sidecar shutting down') {
      accepting = false;
      const waits = [...sockets].map(
        (ws) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              ws.terminate();
              resolve();
            }, 2_000);
            ws.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            ws.close(code, reason);
          }),
      );
      await Promise.all(waits);
      wss.close();
    },
    connectionCount: () => sockets.size,
  };
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpApp } from '../http/app';
import { attachRpcServer, type RpcServerHandle } from '../rpc/ws-server';
import type { PgStore } from '../store';
import type { Access } from './access';
import { StartupError, type Running, type SidecarContext } from './context';
import type { Dashboard } from './dashboard';
import type { Operations } from './operations';
import type { DependencyProbes } from './probes';

/** The one listener: the HTTP API and dashboard, and JSON-RPC over WebSocket at /rpc. Stopping also closes the dashboard's event source. */
export interface Listener extends Running {
  port: number;
  httpUrl: string;
  rpcUrl: string;
  /** First step of a graceful stop: no new connections or upgrades; open sockets stay until stop(). */
  stopAccepting(): void;
}

export async function startListener(
  ctx: SidecarContext,
  parts: { store: PgStore; access: Access; ops: Operations; probes: DependencyProbes; dashboard: Dashboard },
): Promise<Listener> {
  const { config, log, health } = ctx;
  const { access, ops } = parts;
  const app = createHttpApp({
    instanceId: config.instanceId,
    store: parts.store,
    teams: access.teams,
    auth: access.auth,
    metrics: ops.metrics,
    readiness: () => parts.probes.all(),
    dashboard: parts.dashboard.router,
    startedAt: new Date(),
    health: () => health.failure(),
    allowedHosts: config.allowedHosts,
  });
  const server: Server = createServer(app);
  server.keepAliveTimeout = 5_000;
  const rpc = attachRpcServer(server, {
    auth: access.auth,
    dispatcher: ops.dispatcher,
    maxPayloadBytes: config.limits.maxPayloadBytes,
    maxConnectionsPerToken: config.limits.maxConnectionsPerToken,
    log,
    metrics: ops.metrics,
  });
  await listen(server, config.listen).catch(async (err: unknown) => {
    await parts.dashboard.stop();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return { port, httpUrl: `http://${hostForUrl}:${port}`, rpcUrl: `ws://${hostForUrl}:${port}/rpc`, ...closing(server, rpc, parts.dashboard) };
}

function listen(server: Server, at: { host: string; port: number }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new StartupError(`cannot listen on ${at.host}:${at.port} (SIDECAR_LISTEN): ${err.code === 'EADDRINUSE' ? 'address in use' : err.message}`)),
    );
    server.listen(at.port, at.host, () => resolve());
  });
}

/** The dashboard's live streams end before the sockets close, so a browser sees the stream end rather than a reset. */
function closing(server: Server, rpc: RpcServerHandle, dashboard: Running): Pick<Listener, 'stopAccepting' | 'stop'> {
  let closed: Promise<void> | null = null;
  const stopAccepting = (): void => {
    rpc.stopAccepting();
    closed ??= new Promise<void>((r) => server.close(() => r()));
  };
  return {
    stopAccepting,
    async stop() {
      stopAccepting();
      await dashboard.stop();
      await rpc.closeAll();
      server.closeAllConnections();
      await closed;
    },
  };
}

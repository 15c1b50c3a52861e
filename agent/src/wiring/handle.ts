import type Docker from 'dockerode';
import type { SidecarConfig } from '../config/sidecar-config';
import type { TeamDirectory } from '../config/team-directory';
import type { Log } from '../log';
import type { SidecarMetrics } from '../metrics/sidecar-metrics';
import type { OperationRunner } from '../operations/runner';
import type { Dispatcher } from '../rpc/dispatcher';
import type { MethodRegistry } from '../rpc/registry';
import type { Clock } from '../store/contract';
import type { PgStore } from '../store';

/** A started sidecar, as the entry point and the tests hold it. */
export interface SidecarHandle {
  instanceId: string;
  /** http://host:port of the listener; the RPC endpoint is ws://host:port/rpc. */
  httpUrl: string;
  rpcUrl: string;
  port: number;
  config: SidecarConfig;
  store: PgStore;
  runner: OperationRunner;
  registry: MethodRegistry;
  dispatcher: Dispatcher;
  teams: TeamDirectory;
  docker: Docker;
  metrics: SidecarMetrics;
  log: Log;
  /** Where the generated ops token lives when no tokens file is configured. */
  opsTokenFile: string | null;
  /** Why the sidecar can no longer work (its embedded database is gone), or null; /healthz answers 503 with it. */
  failure(): string | null;
  /** Called once when the sidecar fails that way (the entry point stops the systemd watchdog pings). */
  onFailure(listener: (why: string) => void): void;
  /** Graceful: stop accepting, abort in-flight operations to a safe point, leave (release leases), close. Idempotent. */
  stop(reason?: string): Promise<void>;
}

export interface SidecarOptions {
  config: SidecarConfig;
  log?: Log;
  clock?: Clock;
  /** Lines for the person starting the sidecar (where the ops token is). */
  notice?: (line: string) => void;
}

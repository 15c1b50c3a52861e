import Docker from 'dockerode';
import type { TeamDirectory } from '../config/team-directory';
import { SidecarMetrics } from '../metrics/sidecar-metrics';
import { OperationRunner } from '../operations/runner';
import { Dispatcher } from '../rpc/dispatcher';
import { registerCoreMethods } from '../rpc/methods/core';
import { MethodRegistry } from '../rpc/registry';
import type { PgStore } from '../store';
import { DeferredWrites } from '../traffic/deferred-writes';
import { OwedWritesSpool } from '../traffic/owed-writes-spool';
import type { SidecarContext } from './context';

/** The operation runner and what runs the RPC methods: the registry, the dispatcher, metrics, the Docker client. */
export interface Operations {
  runner: OperationRunner;
  registry: MethodRegistry;
  dispatcher: Dispatcher;
  metrics: SidecarMetrics;
  docker: Docker;
  /** Records owed to PostgreSQL after a rollback applied without it. */
  deferred: DeferredWrites;
}

export function wireOperations(ctx: SidecarContext, store: PgStore, teams: TeamDirectory): Operations {
  const { config, clock, log } = ctx;
  const metrics = new SidecarMetrics({ instanceId: config.instanceId, breakers: () => store.breakers.list(), environments: () => store.environments.list() });
  // The runner hands an operation's end to the owed writes when the journal is unreachable, and the
  // owed writes re-record an operation from the runner's record: each refers to the other, after both exist.
  const deferred: DeferredWrites = new DeferredWrites({
    journal: store.journal,
    environments: store.environments,
    audit: store.audit,
    // Kept on disk: a restart during a database outage still writes them.
    spool: new OwedWritesSpool(ctx.dataDir.owedWrites, log),
    log,
    operationOf: (id) => runner.describe(id),
  });
  const runner: OperationRunner = new OperationRunner({
    journal: store.journal,
    clock,
    log,
    onFinished: (op) => metrics.operationFinished(op),
    owedFinish: (team, id, status, result, error) => deferred.finish(team, id, status, error ?? null, result),
  });
  metrics.watchBus(runner.bus);
  const registry = new MethodRegistry();
  const docker = dockerClient(config.dockerHost);
  registerCoreMethods(registry, { store, runner, teams, instanceId: config.instanceId, metrics, docker });
  const dispatcher = new Dispatcher({
    registry,
    instanceId: config.instanceId,
    audit: store.audit,
    metrics,
    log,
    maxInFlightPerToken: config.limits.maxInFlightPerToken,
    selfAudited: new Set(['coordination.update']),
  });
  return { runner, registry, dispatcher, metrics, docker, deferred };
}

function dockerClient(dockerHost: string | null): Docker {
  if (!dockerHost) return new Docker();
  const u = new URL(dockerHost);
  if (u.protocol === 'unix:') return new Docker({ socketPath: u.pathname });
  return new Docker({ host: u.hostname, port: Number(u.port || 2375), protocol: u.protocol === 'https:' ? 'https' : 'http' });
}

import type { OperationRunner } from '../operations/runner';
import type { Dispatcher } from '../rpc/dispatcher';
import type { RunningAreas, SidecarContext } from './context';
import type { Listener } from './http';

/**
 * Graceful and idempotent: stop accepting, abort in-flight operations to a safe point and wait
 * for their answers within the grace period, then stop every area last-first (the listener,
 * membership, which releases leases, the loops, the database, the data-dir lock).
 */
export function gracefulStop(ctx: SidecarContext, parts: { listener: Listener; runner: OperationRunner; dispatcher: Dispatcher; areas: RunningAreas }): (reason?: string) => Promise<void> {
  const { config, log } = ctx;
  const { listener, runner, dispatcher, areas } = parts;
  let stopping: Promise<void> | null = null;
  return (reason = 'shutdown requested') => {
    stopping ??= (async () => {
      log.info('stopping', { reason, inFlight: runner.inFlight() });
      listener.stopAccepting();
      runner.abortAll(`sidecar ${config.instanceId} is shutting down (${reason})`);
      const graceEnds = Date.now() + config.shutdownGraceSec * 1000;
      const left = await runner.drain(config.shutdownGraceSec * 1000);
      // An operation that ended is not yet an answer: the dispatcher still audits it and sends
      // the reply. Closing sockets before that loses the caller's answer (DEPENDENCY_DOWN /
      // rolled_back after a SIGTERM mid-switch), so wait for it within the same grace.
      const unanswered = await dispatcher.settle(Math.max(1_000, graceEnds - Date.now()));
      if (unanswered > 0) log.warn('calls still unanswered at the shutdown deadline; their callers re-attach or retry', { unanswered });
      if (left > 0) log.warn('operations still running at the shutdown deadline; recovery resumes them at next start', { left });
      await areas.stopAll();
      log.info('stopped', { reason });
    })();
    return stopping;
  };
}

import type { TargetWatch } from '../../environments/stayed-behind';
import { handOverAgents } from '../agent-handover';
import type { TrafficDeps } from '../traffic-deps';
import type { SwitchHooks } from './hooks';
import type { SwitchRun } from './switch-run';

/**
 * The switch's optional concerns as its hooks: the one place that asks which of them the sidecar
 * configured (TrafficDeps' optional members). In phase order:
 * - starting: a target without traffic is brought up to date with the source when the switch asks
 *   for it (syncTarget; its reload costs nobody then), then its home is listed so a rollback can say what it did while it had traffic;
 * - promoted: inbound agents leave the old side once idle, and webhooks/queued builds follow;
 * - rolledBack: what stayed behind on the target is listed, and triggers go back to the source.
 * What they find goes into run.report (the result and the audit records).
 */
export function concernHooks(deps: TrafficDeps): SwitchHooks {
  const watches = new WeakMap<SwitchRun, TargetWatch>();
  return {
    async starting(run) {
      const { team, source, target, ctx } = run;
      if (deps.targetSync && run.params.syncTarget && run.setup.state.weights[target] === 0) run.report.synced = await deps.targetSync.bringUpToDate(team, source, target, ctx);
      if (deps.stayedBehind) watches.set(run, await deps.stayedBehind.watch(team, target));
    },
    targetReady: async () => undefined,
    stepApplied: async () => undefined,
    stepValidated: async () => undefined,
    beforeDrain: async () => undefined,
    async promoted(run) {
      const { source, target, ctx, params } = run;
      const config = run.setup.config;
      if (deps.jenkinsFor) {
        run.report.agents = config
          ? await handOverAgents({ jenkinsFor: deps.jenkinsFor, sleep: deps.sleep }, config, source, target, ctx, run.signal, { timeoutMs: params.drainTimeoutSec * 1000 })
          : null;
      }
      if (deps.triggers && config) await deps.triggers.moveTo(config, source, target, ctx);
    },
    async rolledBack(run) {
      const { source, target, ctx, team } = run;
      const watch = watches.get(run);
      if (watch) run.report.stayedBehind = await watch.report(ctx).catch((e: unknown) => ({ listed: false as const, error: String(e) }));
      const config = run.setup.config;
      // The rollback is done and final: a trigger route that cannot be moved back is logged, never thrown.
      if (deps.triggers && config) await deps.triggers.moveBackTo(config, target, source, ctx).catch((e: unknown) => deps.log.warn('could not move the triggers back', { team, error: String(e) }));
    },
  };
}

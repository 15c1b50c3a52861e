import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { inspectManaged } from '../docker/containers';
import type { OperationContext } from '../store/contract';
import { journaled, report } from './journal-step';
import { migrateState, type MigrateDeps } from './migrate';

/**
 * Before a switch gives the target any traffic, its home is brought up to
 * date with the source's: state.migrate's pre-copy, quiet-down and delta, and
 * the reload of the target while it serves nothing. Then the source gets its
 * executors back (it keeps serving during the progressive steps).
 *
 * Why before: Jenkins.doReload puts the whole controller behind
 * HudsonIsLoading (every request 503) until reload() ends (core
 * jenkins.model.Jenkins.doReload), and a reload is the only way a copied
 * build becomes visible: AbstractLazyLoadRunMap.loadNumberOnDisk lists the
 * build numbers of a job once, at load, and Job.onLoad reads nextBuildNumber
 * then. A migration after the switch (the order of a pipeline that switches first and migrates after) that finds
 * the target already holding every byte skips the reload (reloaded:false), so
 * the side serving everything never answers 503.
 */
export interface TargetSync {
  bringUpToDate(team: string, source: EnvironmentName, target: EnvironmentName, ctx: OperationContext): Promise<PreSwitchSync>;
}

export type PreSwitchSync =
  | { synced: true; files: number; bytes: number; delta: { files: number; bytes: number }; windowSec: number; reloaded: boolean; restarted: boolean }
  | { synced: false; reason: string };

/**
 * How long the sync waits for the source's running builds to end (the calling
 * build excepted: it runs on the source until after the switch). Jenkins
 * reports the build behind an executor by its URL: a Pipeline's top-level run
 * on a one-off executor, and a `node` block's PlaceholderExecutable, whose
 * exported `url` is its run's (workflow-durable-task-step
 * ExecutorStepExecution.PlaceholderTask.PlaceholderExecutable.getAbsoluteUrl),
 * so assessActivity tells the caller's executors from others by job and number.
 */
export const SYNC_DRAIN_TIMEOUT_SEC = 300;

export interface TargetSyncOptions {
  teamConfig: (team: string) => Team | undefined;
  /** How long the source may take to go idle (its running builds end) before the switch is refused. */
  drainTimeoutSec?: number;
}

/** Not both sides are containers this sidecar runs (a controller run some other way): nothing to copy with Docker. */
async function unmanagedReason(deps: MigrateDeps, team: Team, source: EnvironmentName, target: EnvironmentName): Promise<string | null> {
  for (const env of [source, target]) {
    const name = team.environments[env].container;
    // Docker away or a container of someone else's: the switch goes on as before (the reload then comes with a later migration), and says so.
    const c = await inspectManaged(deps.docker, name, team.team_name, env).catch((err: unknown) => (err as Error).message);
    if (typeof c === 'string') return `${team.team_name}/${env} (${name}) could not be inspected: ${c}`;
    if (!c?.running) return `${team.team_name}/${env} is not a running container of this sidecar (${name})`;
  }
  return null;
}

export function dockerTargetSync(deps: MigrateDeps, opts: TargetSyncOptions): TargetSync {
  return {
    async bringUpToDate(name, source, target, ctx) {
      const team = opts.teamConfig(name);
      const skip = (reason: string): PreSwitchSync => {
        report(ctx, 'sync_skipped', `${name}/${target} not brought up to date before the switch: ${reason}`, { reason });
        return { synced: false, reason };
      };
      if (!team) return skip(`team ${name} is not in the teams file`);
      const unmanaged = await unmanagedReason(deps, team, source, target);
      if (unmanaged) return skip(unmanaged);
      report(ctx, 'sync', `bringing ${name}/${target} up to date with ${name}/${source} while it has no traffic`);
      // A source already quieting down (a migration just before the switch left it so) stays so: its builds would be lost when traffic leaves.
      const wasQuiet = (await deps.jenkinsFor(team, source).root()).quietingDown === true;
      const m = await migrateState(deps, team, { source, target, timeoutSec: opts.drainTimeoutSec ?? SYNC_DRAIN_TIMEOUT_SEC, callerBuild: ctx.actor.build, operation: 'switch' }, ctx);
      // The source serves on during the progressive steps: its executors come back now.
      if (!wasQuiet) await journaled(deps.journal, ctx, 'cancel_quiet_down_source', { environment: source }, () => deps.jenkinsFor(team, source).cancelQuietDown());
      report(ctx, 'synced', `${name}/${target} holds ${name}/${source}'s state (${m.jobs} items; builds were blocked on ${source} for ${m.windowSec}s${m.restart.restarted ? `, ${target} restarted (key files changed)` : m.reloaded ? `, ${target} reloaded` : ''})`, { windowSec: m.windowSec });
      return { synced: true, files: m.files, bytes: m.bytes, delta: { files: m.delta.files, bytes: m.delta.bytes }, windowSec: m.windowSec, reloaded: m.reloaded, restarted: m.restart.restarted };
    },
  };
}

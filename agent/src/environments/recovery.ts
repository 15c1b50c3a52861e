import { existsSync } from 'node:fs';
import type Docker from 'dockerode';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { selectForMigration } from '../jenkins/home-layout';
import type { OperationJournal, OperationRecord } from '../store/contract';
import type { JenkinsClientFactory } from './controllers';
import { discardSnapshot, manualRestoreCommands, RestoreFailure, restoreTargetHome } from './target-snapshot';

/**
 * Startup recovery for environment operations this sidecar owned and did not
 * finish (it was killed mid-way). None of them is resumed: a deploy, stop,
 * restore or backup is safe to run again, so each is closed as `aborted` with
 * a message that says so. What must not be left behind is a source quieted
 * down by a migration (or a coordinated rollout) that never ended: its
 * executors would stay blocked, so quiet-down is cancelled first. Neither may
 * a migration target the copy had started writing into: when the journal
 * names the saved archive of its pre-copy state (snapshot_target) and no
 * restore or discard followed, the target is put back from it (with Docker),
 * or the note names the archive and the manual commands.
 */
export const ENVIRONMENT_OPERATION_TYPES = new Set(['environment.deploy', 'environment.stop', 'state.migrate', 'backup.create', 'backup.restore', 'coordination.execute', 'environment.quietDown']);

export interface EnvironmentRecoveryAction {
  operationId: string;
  type: string;
  team: string | null;
  cancelledQuietDown: EnvironmentName[];
  restoredTargets: EnvironmentName[];
  note: string;
}

/** A target's saved pre-copy state as the journal names it. */
export interface PendingTargetSnapshot {
  environment: EnvironmentName;
  container: string;
  archive: string;
  includeBuilds: boolean;
  includeWorkspaces: boolean;
  imageOwned: boolean;
  /** Nodes the copy left alone; absent in a snapshot taken before the copy left any out. */
  ownNodes?: string[];
  /** False when the copy never started: nothing to restore, the archive is only deleted. */
  copyStarted: boolean;
}

/** The snapshot's selection left these nodes out: its restore must too. */
function ownNodesOf(intent: Record<string, unknown>): { ownNodes?: string[] } {
  const n = intent.ownNodes;
  return Array.isArray(n) && n.every((x) => typeof x === 'string') ? { ownNodes: n as string[] } : {};
}

/**
 * Pure: the target snapshots a journal took and never settled. A snapshot is
 * settled by a done restore_target or discard_target_snapshot naming its
 * archive. One whose intent was written but whose copy_configuration never
 * began is listed with copyStarted false (the partial file is removed).
 */
export function unsettledTargetSnapshots(op: OperationRecord): PendingTargetSnapshot[] {
  const open = new Map<string, PendingTargetSnapshot>();
  let last: PendingTargetSnapshot | null = null;
  for (const s of op.steps) {
    const archive = typeof s.intent.archive === 'string' ? s.intent.archive : null;
    const env = s.intent.environment;
    if (s.name === 'snapshot_target' && archive && (env === 'blue' || env === 'green') && typeof s.intent.container === 'string') {
      last = { environment: env, container: s.intent.container, archive, includeBuilds: s.intent.includeBuilds !== false, includeWorkspaces: s.intent.includeWorkspaces === true, imageOwned: s.intent.imageOwned === true, ...ownNodesOf(s.intent), copyStarted: false };
      open.set(archive, last);
    } else if (s.name === 'copy_configuration' && last) {
      last.copyStarted = true; // intent written: the copy may have written into the target, whatever its outcome
    } else if ((s.name === 'restore_target' || s.name === 'discard_target_snapshot') && archive && s.outcome === 'done') {
      open.delete(archive);
      if (last?.archive === archive) last = null;
    }
  }
  return [...open.values()];
}

/** Pure: the environments a journal says were quieted down and not given back. */
export function quietedSources(op: OperationRecord): EnvironmentName[] {
  const out = new Set<EnvironmentName>();
  for (const s of op.steps) {
    const env = s.intent.environment as EnvironmentName | undefined;
    if (env !== 'blue' && env !== 'green') continue;
    // The intent is written before the call: a pending quiet-down may have reached Jenkins.
    if (s.name === 'quiet_down_source' && s.outcome !== 'failed') out.add(env);
    if (s.name === 'cancel_quiet_down_source' && s.outcome === 'done') out.delete(env);
  }
  return [...out];
}

export async function recoverEnvironmentOperations(
  deps: { journal: OperationJournal; jenkinsFor: JenkinsClientFactory; team: (name: string) => Team | undefined; docker?: Docker },
  instanceId: string,
): Promise<EnvironmentRecoveryAction[]> {
  // A switch brings its target up to date before moving traffic (pre-switch-sync.ts): its migration's leftovers are settled here, the switch itself is closed by the traffic recovery that runs after.
  const ops = (await deps.journal.unfinished(instanceId)).filter((o) => ENVIRONMENT_OPERATION_TYPES.has(o.type) || o.type === 'traffic.switch');
  const actions: EnvironmentRecoveryAction[] = [];
  for (const op of ops) {
    const cancelled: EnvironmentName[] = [];
    const problems: string[] = [];
    const team = op.team ? deps.team(op.team) : undefined;
    const restored: EnvironmentName[] = [];
    // Targets first: the source stays quiet (no new builds) until its target is back.
    for (const snap of unsettledTargetSnapshots(op)) {
      const r = await restoreSnapshot(deps, op, team, snap);
      if (r === 'restored') restored.push(snap.environment);
      else if (r) problems.push(r);
    }
    for (const env of quietedSources(op)) {
      if (!team) {
        problems.push(`team ${op.team} is not in the teams file: cancel quiet-down on ${env} by hand`);
        continue;
      }
      try {
        // Journaled: a second start must not find this source quieted again.
        const seq = await deps.journal.intent(op.id, 'cancel_quiet_down_source', { environment: env, recovered: true });
        await deps.jenkinsFor(team, env).cancelQuietDown();
        await deps.journal.outcome(op.id, seq, 'done', {});
        cancelled.push(env);
      } catch (err) {
        problems.push(`could not cancel quiet-down on ${team.team_name}/${env}: ${(err as Error).message}`);
      }
    }
    if (!ENVIRONMENT_OPERATION_TYPES.has(op.type)) {
      if (cancelled.length || restored.length || problems.length) actions.push({ operationId: op.id, type: op.type, team: op.team, cancelledQuietDown: cancelled, restoredTargets: restored, note: `the target sync of ${op.type} was settled: ${[...cancelled.map((e) => `quiet-down cancelled on ${e}`), ...restored.map((e) => `${e} restored`), ...problems].join('; ')}` });
      continue;
    }
    const did = [cancelled.length ? `quiet-down cancelled on ${cancelled.join(', ')}` : '', restored.length ? `migration target ${restored.join(', ')} restored to its state before the copy` : ''].filter(Boolean);
    const note = `the sidecar restarted while ${op.type} was at phase ${op.phase}; nothing was resumed, run it again${did.length ? ` (${did.join('; ')})` : ''}${problems.length ? `; ${problems.join('; ')}` : ''}`;
    await deps.journal.finish(op.id, 'aborted', null, { code: 'DEPENDENCY_DOWN', message: note, data: { recovered: true, cancelledQuietDown: cancelled, restoredTargets: restored } });
    actions.push({ operationId: op.id, type: op.type, team: op.team, cancelledQuietDown: cancelled, restoredTargets: restored, note });
  }
  return actions;
}

/**
 * Restores one target from its saved archive, journaled as restore_target on
 * the operation being closed. Returns 'restored', null (nothing to do) or a
 * problem sentence naming the archive and the manual commands.
 */
async function restoreSnapshot(
  deps: { journal: OperationJournal; docker?: Docker },
  op: OperationRecord,
  team: Team | undefined,
  snap: PendingTargetSnapshot,
): Promise<'restored' | string | null> {
  if (!snap.copyStarted) {
    await discardSnapshot(snap.archive).catch(() => undefined);
    return null;
  }
  const byHand = (added: readonly string[]): string => manualRestoreCommands(snap.container, snap.archive, added);
  if (!existsSync(snap.archive)) return `the pre-copy state of migration target ${snap.environment} (${snap.archive}) is gone: ${snap.container} keeps what the copy wrote; restore a backup into it or redeploy it`;
  if (!deps.docker) return `migration target ${snap.environment} may hold part of the copy; its pre-copy state is in ${snap.archive}: ${byHand([])}`;
  if (!team || team.environments[snap.environment].container !== snap.container) {
    return `migration target container ${snap.container} is not ${op.team}/${snap.environment} in the teams file: not restored automatically; its pre-copy state is in ${snap.archive}: ${byHand([])}`;
  }
  const seq = await deps.journal.intent(op.id, 'restore_target', { environment: snap.environment, container: snap.container, archive: snap.archive, recovered: true });
  try {
    const r = await restoreTargetHome(deps.docker, snap.container, selectForMigration(snap), snap.archive);
    await deps.journal.outcome(op.id, seq, 'done', { removed: r.removed.length, rewritten: r.rewritten, verified: true });
    await discardSnapshot(snap.archive).catch(() => undefined);
    return 'restored';
  } catch (err) {
    await deps.journal.outcome(op.id, seq, 'failed', { error: (err as Error).message }).catch(() => undefined);
    const added = err instanceof RestoreFailure ? err.added : [];
    return `RESTORING migration target ${team.team_name}/${snap.environment} FAILED (${(err as Error).message}): ${snap.container} still holds part of the copy; its pre-copy state is kept in ${snap.archive}. By hand: ${byHand(added)}`;
  }
}

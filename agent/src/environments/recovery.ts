import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import type { OperationJournal, OperationRecord } from '../store/contract';
import type { JenkinsClientFactory } from './controllers';

/**
 * Startup recovery for environment operations this sidecar owned and did not
 * finish (it was killed mid-way). None of them is resumed: a deploy, stop,
 * restore or backup is safe to run again, so each is closed as `aborted` with
 * a message that says so. What must not be left behind is a source quieted
 * down by a migration (or a coordinated rollout) that never ended: its
 * executors would stay blocked, so quiet-down is cancelled first.
 */
export const ENVIRONMENT_OPERATION_TYPES = new Set(['environment.deploy', 'environment.stop', 'state.migrate', 'backup.create', 'backup.restore', 'coordination.execute', 'environment.quietDown']);

export interface EnvironmentRecoveryAction {
  operationId: string;
  type: string;
  team: string | null;
  cancelledQuietDown: EnvironmentName[];
  note: string;
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
  deps: { journal: OperationJournal; jenkinsFor: JenkinsClientFactory; team: (name: string) => Team | undefined },
  instanceId: string,
): Promise<EnvironmentRecoveryAction[]> {
  const ops = (await deps.journal.unfinished(instanceId)).filter((o) => ENVIRONMENT_OPERATION_TYPES.has(o.type));
  const actions: EnvironmentRecoveryAction[] = [];
  for (const op of ops) {
    const cancelled: EnvironmentName[] = [];
    const problems: string[] = [];
    const team = op.team ? deps.team(op.team) : undefined;
    for (const env of quietedSources(op)) {
      if (!team) {
        problems.push(`team ${op.team} is not in the teams file: cancel quiet-down on ${env} by hand`);
        continue;
      }
      try {
        await deps.jenkinsFor(team, env).cancelQuietDown();
        cancelled.push(env);
      } catch (err) {
        problems.push(`could not cancel quiet-down on ${team.team_name}/${env}: ${(err as Error).message}`);
      }
    }
    const note = `the sidecar restarted while ${op.type} was at phase ${op.phase}; nothing was resumed, run it again${cancelled.length ? ` (quiet-down cancelled on ${cancelled.join(', ')})` : ''}${problems.length ? `; ${problems.join('; ')}` : ''}`;
    await deps.journal.finish(op.id, 'aborted', null, { code: 'DEPENDENCY_DOWN', message: note, data: { recovered: true, cancelledQuietDown: cancelled } });
    actions.push({ operationId: op.id, type: op.type, team: op.team, cancelledQuietDown: cancelled, note });
  }
  return actions;
}

import type Docker from 'dockerode';
import type { Registry } from 'prom-client';
import type { Team } from '../../../catalog/teams-file';
import { inspectManaged } from '../docker/containers';
import type { EnvironmentStateStore } from '../store/contract';
import { createBackupMetrics } from './backup-metrics';
import { createBackup } from './backups';
import type { RetentionPolicy } from './retention';
import { durationMs, startBackupScheduler, type BackupScheduler } from './scheduler';

/**
 * The sidecar's configuration_state_backup: every state_backup_interval (the
 * shortest among the teams, 15m by default), back up the active side of each
 * team whose container runs on this host. Returns null without teams.
 */
export function startSidecarBackups(deps: {
  docker: Docker;
  environments: EnvironmentStateStore;
  teams: () => Team[];
  root: string;
  registry: Registry;
  retention?: RetentionPolicy;
  onError?: (team: string, err: unknown) => void;
  onBackup?: (team: string, backupId: string) => void;
}): BackupScheduler | null {
  const teams = deps.teams();
  if (!teams.length) return null;
  const intervalMs = Math.min(...teams.map((t) => durationMs(t.self_management_config.state_backup_interval)));
  return startBackupScheduler({
    intervalMs,
    teams: deps.teams,
    metrics: createBackupMetrics(deps.registry),
    onError: deps.onError,
    backup: async (team) => {
      const state = await deps.environments.ensure(team.team_name, team.active_environment);
      const c = await inspectManaged(deps.docker, team.environments[state.active].container, team.team_name, state.active);
      if (!c?.running) return 'skipped';
      const b = await createBackup({ docker: deps.docker, environments: deps.environments, root: deps.root, retention: deps.retention }, team, { environment: state.active });
      deps.onBackup?.(team.team_name, b.backupId);
      return 'done';
    },
  });
}

import { join } from 'node:path';
import type Docker from 'dockerode';
import type { z } from 'zod';
import {
  ENVIRONMENT_METHODS,
  type backupCreateParams,
  type coordinationExecuteParams,
  type backupRestoreParams,
  type environmentDeployParams,
  type environmentStopParams,
  type environmentQuietDownParams,
  type environmentValidateParams,
  type stateMigrateParams,
} from '../../../../catalog/methods/environment';
import { parseTeamsDocument, type Team } from '../../../../catalog/teams-file';
import { createBackup, listBackups, restoreBackup, type BackupDeps } from '../../backup/backups';
import type { RetentionPolicy } from '../../backup/retention';
import type { TeamDirectory } from '../../config/team-directory';
import { DEFAULT_NETWORKING, type NetworkingConfig } from '../../docker/container-spec';
import type { ControllerFilesConfig } from '../../docker/controller-mounts';
import { teamJenkinsClientFactory, type JenkinsClientFactory } from '../../environments/controllers';
import { deployEnvironment, stopEnvironment, type EnvironmentDeps } from '../../environments/deploy';
import { migrateState } from '../../environments/migrate';
import { setQuietDown } from '../../environments/quiet-down';
import { validateEnvironment } from '../../environments/validate';
import { executeCoordinated } from '../../environments/coordinated-rollout';
import { SidecarError } from '../../errors/sidecar-error';
import type { OperationRunner } from '../../operations/runner';
import type { TrafficDeps } from '../../traffic/switch';
import { isOps } from '../principal';
import type { Store } from '../../store/contract';
import { specNamed, type MethodRegistry } from '../registry';
import { runJournaled } from './run-journaled';

/**
 * Handlers of the environment area (catalog/methods/environment.ts). Thin:
 * resolve the team, run one operation (under the journal when it mutates),
 * return its result.
 */
export interface EnvironmentMethodDeps {
  store: Store;
  runner: OperationRunner;
  teams: TeamDirectory;
  docker: Docker;
  /** Host directory of backups, e.g. <SIDECAR_DATA_DIR>/backups. */
  backupRoot: string;
  networking?: NetworkingConfig;
  /** Host side of the controllers' secrets and file:// library (sidecar config); deploy checks and mounts them. */
  controllerFiles?: ControllerFilesConfig;
  jenkinsFor?: JenkinsClientFactory;
  retention?: RetentionPolicy;
  /** Where state.migrate saves the target's pre-copy state, e.g. <SIDECAR_DATA_DIR>/migrate-snapshots. */
  migrateSnapshotDir?: string;
}

const spec = (name: string) => specNamed(ENVIRONMENT_METHODS, name);

// Exclusive keys: two deploys of one environment, or a deploy racing a migration
// into it, would fight over one container name and one volume.
/** One key per team: deploy, stop, restore, migrate and a coordinated rollout all change that team's containers. */
const teamKey = (team: string): string => `environments:${team}`;

/** The team from the teams file; without one (local try-out) a team with the file's defaults. */
export function resolveTeam(teams: TeamDirectory, name: string): Team {
  const t = teams.require(name);
  if (t) return t;
  const parsed = parseTeamsDocument(`jenkins_teams:\n  - team_name: ${name}\n`, '(defaults)');
  if (parsed.errors.length) throw new Error(parsed.errors.join('; '));
  return parsed.teams[0];
}

export const defaultBackupRoot = (dataDir: string): string => join(dataDir, 'backups');

export function registerEnvironmentMethods(registry: MethodRegistry, deps: EnvironmentMethodDeps): void {
  const { store, runner, teams, docker } = deps;
  const jenkinsFor = deps.jenkinsFor ?? teamJenkinsClientFactory();
  const envDeps: EnvironmentDeps = { docker, environments: store.environments, jenkinsFor, networking: deps.networking ?? DEFAULT_NETWORKING, controllerFiles: deps.controllerFiles, journal: store.journal };
  const backupDeps: BackupDeps = { docker, environments: store.environments, root: deps.backupRoot, jenkinsFor, journal: store.journal, retention: deps.retention };

  registry.register(spec('environment.deploy'), async (p, call) => {
    const params = p as z.output<typeof environmentDeployParams>;
    const team = resolveTeam(teams, params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => deployEnvironment(envDeps, team, params, ctx), teamKey(params.team));
  });

  registry.register(spec('environment.stop'), async (p, call) => {
    const params = p as z.output<typeof environmentStopParams>;
    const team = resolveTeam(teams, params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => stopEnvironment(envDeps, team, params, ctx), teamKey(params.team));
  });

  registry.register(spec('environment.validate'), async (p) => {
    const params = p as z.output<typeof environmentValidateParams>;
    const team = resolveTeam(teams, params.team);
    return validateEnvironment({ docker, jenkinsFor, environments: store.environments }, team, params);
  });

  registry.register(spec('state.migrate'), async (p, call) => {
    const params = p as z.output<typeof stateMigrateParams>;
    const team = resolveTeam(teams, params.team);
    // The calling build runs on the source: without an explicit callerBuild, the build the transport names is the one not to wait for.
    const callerBuild = params.callerBuild ?? call.actor.build;
    return runJournaled(
      runner,
      call,
      params.team,
      { ...params, ...(callerBuild ? { callerBuild } : {}) },
      (ctx) => migrateState({ docker, jenkinsFor, journal: store.journal, snapshotDir: deps.migrateSnapshotDir, environments: store.environments }, team, { ...params, callerBuild }, ctx),
      teamKey(params.team),
    );
  });

  // Exclusive with the team's other environment operations: lifting quiet-down while a migration copies from that side would let builds start mid-copy.
  registry.register(spec('environment.quietDown'), async (p, call) => {
    const params = p as z.output<typeof environmentQuietDownParams>;
    const team = resolveTeam(teams, params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => setQuietDown({ docker, jenkinsFor, journal: store.journal }, team, params, ctx), teamKey(params.team));
  });

  registry.register(spec('backup.create'), async (p, call) => {
    const params = p as z.output<typeof backupCreateParams>;
    const team = resolveTeam(teams, params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => createBackup(backupDeps, team, params, ctx));
  });

  registry.register(spec('backup.list'), async (p) => {
    const { team } = p as { team: string };
    return { backups: await listBackups(deps.backupRoot, resolveTeam(teams, team)) };
  });

  registry.register(spec('backup.restore'), async (p, call) => {
    const params = p as z.output<typeof backupRestoreParams>;
    const team = resolveTeam(teams, params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => restoreBackup(backupDeps, team, params, ctx), teamKey(params.team));
  });
}

/**
 * coordination.execute needs the traffic driver, built after these methods in
 * sidecar.ts: registered on its own once TrafficDeps exist.
 */
export function registerCoordinatedExecution(registry: MethodRegistry, deps: EnvironmentMethodDeps & { traffic?: TrafficDeps }): void {
  const { store, runner, teams, docker } = deps;
  const jenkinsFor = deps.jenkinsFor ?? teamJenkinsClientFactory();
  registry.register(spec('coordination.execute'), async (p, call) => {
    const params = p as z.output<typeof coordinationExecuteParams>;
    let targets: Team[];
    if (params.scope === 'all') {
      if (!isOps(call.principal)) throw new SidecarError('FORBIDDEN', `coordination.execute with scope 'all' needs an ops token (teams ["*"]); token ${call.principal.tokenId} may only act on ${call.principal.teams.join(', ')}`, {});
      targets = teams.list();
      if (!targets.length) throw new SidecarError('NOT_FOUND', "scope 'all' needs a teams file (SIDECAR_TEAMS_FILE) listing the teams", {});
    } else {
      targets = [resolveTeam(teams, params.team as string)];
    }
    return runJournaled(
      runner,
      call,
      params.team ?? null,
      params,
      (ctx) => executeCoordinated({ docker, store, jenkinsFor, networking: deps.networking ?? DEFAULT_NETWORKING, controllerFiles: deps.controllerFiles, traffic: deps.traffic, journal: store.journal, snapshotDir: deps.migrateSnapshotDir }, targets, params, ctx),
      params.scope === 'all' ? 'environments:*' : teamKey(params.team as string),
    );
  });
}

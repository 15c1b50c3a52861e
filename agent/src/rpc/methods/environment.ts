import type Docker from 'dockerode';
import {
  backupCreate,
  backupList,
  backupRestore,
  coordinationExecute,
  environmentDeploy,
  environmentQuietDown,
  environmentStop,
  environmentValidate,
  stateMigrate,
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
import { SidecarError } from '../../sidecar-error';
import type { OperationRunner } from '../../operations/runner';
import type { TrafficDeps } from '../../traffic/switch';
import { isOps } from '../principal';
import type { Store } from '../../store/contract';
import { bind, type Handler, type MethodRegistry, type RegisteredMethod } from '../registry';
import { runJournaled } from './run-journaled';
import type { TriggerHandover } from '../../traffic/queue-handover';

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
  /** Webhooks and the quieted source's queue follow a migration (traffic/queue-handover.ts). */
  triggers?: TriggerHandover;
  /** coordination.execute moves each team's traffic with it (traffic.switch). */
  traffic?: TrafficDeps;
}

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

/** What the environment handlers share: the deps of deploy/stop and of the backups, built once per sidecar. */
interface EnvironmentContext {
  deps: EnvironmentMethodDeps;
  jenkinsFor: JenkinsClientFactory;
  envDeps: EnvironmentDeps;
  backupDeps: BackupDeps;
}

function environmentContext(deps: EnvironmentMethodDeps): EnvironmentContext {
  const { store, docker } = deps;
  const jenkinsFor = deps.jenkinsFor ?? teamJenkinsClientFactory();
  const envDeps: EnvironmentDeps = { docker, environments: store.environments, jenkinsFor, networking: deps.networking ?? DEFAULT_NETWORKING, controllerFiles: deps.controllerFiles, journal: store.journal };
  const backupDeps: BackupDeps = { docker, environments: store.environments, root: deps.backupRoot, jenkinsFor, journal: store.journal, retention: deps.retention };
  return { deps, jenkinsFor, envDeps, backupDeps };
}

export const environmentDeployHandler =
  ({ deps: { runner, teams }, envDeps }: EnvironmentContext): Handler<typeof environmentDeploy> =>
  async (params, call) => {
    const team = resolveTeam(teams, params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => deployEnvironment(envDeps, team, params, ctx), teamKey(params.team));
  };

export const environmentStopHandler =
  ({ deps: { runner, teams }, envDeps }: EnvironmentContext): Handler<typeof environmentStop> =>
  async (params, call) => {
    const team = resolveTeam(teams, params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => stopEnvironment(envDeps, team, params, ctx), teamKey(params.team));
  };

export const environmentValidateHandler =
  ({ deps: { teams, docker, store }, jenkinsFor }: EnvironmentContext): Handler<typeof environmentValidate> =>
  async (params) =>
    validateEnvironment({ docker, jenkinsFor, environments: store.environments }, resolveTeam(teams, params.team), params);

export const stateMigrateHandler =
  ({ deps: { runner, teams, docker, store, migrateSnapshotDir, triggers }, jenkinsFor }: EnvironmentContext): Handler<typeof stateMigrate> =>
  async (params, call) => {
    const team = resolveTeam(teams, params.team);
    // The calling build runs on the source: without an explicit callerBuild, the build the transport names is the one not to wait for.
    const callerBuild = params.callerBuild ?? call.actor.build;
    return runJournaled(
      runner,
      call,
      params.team,
      { ...params, ...(callerBuild ? { callerBuild } : {}) },
      (ctx) => migrateState({ docker, jenkinsFor, journal: store.journal, snapshotDir: migrateSnapshotDir, triggers, environments: store.environments }, team, { ...params, callerBuild }, ctx),
      teamKey(params.team),
    );
  };

// Exclusive with the team's other environment operations: lifting quiet-down while a migration copies from that side would let builds start mid-copy.
export const environmentQuietDownHandler =
  ({ deps: { runner, teams, docker, store }, jenkinsFor }: EnvironmentContext): Handler<typeof environmentQuietDown> =>
  async (params, call) => {
    const team = resolveTeam(teams, params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => setQuietDown({ docker, jenkinsFor, journal: store.journal }, team, params, ctx), teamKey(params.team));
  };

export const backupCreateHandler =
  ({ deps: { runner, teams }, backupDeps }: EnvironmentContext): Handler<typeof backupCreate> =>
  async (params, call) => {
    const team = resolveTeam(teams, params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => createBackup(backupDeps, team, params, ctx));
  };

export const backupListHandler =
  ({ deps: { teams, backupRoot } }: EnvironmentContext): Handler<typeof backupList> =>
  async ({ team }) => ({ backups: await listBackups(backupRoot, resolveTeam(teams, team)) });

export const backupRestoreHandler =
  ({ deps: { runner, teams }, backupDeps }: EnvironmentContext): Handler<typeof backupRestore> =>
  async (params, call) => {
    const team = resolveTeam(teams, params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => restoreBackup(backupDeps, team, params, ctx), teamKey(params.team));
  };

/** The environment area's methods, each spec with its handler. */
export function environmentMethods(deps: EnvironmentMethodDeps): RegisteredMethod[] {
  const c = environmentContext(deps);
  return [
    bind(environmentDeploy, environmentDeployHandler(c)),
    bind(environmentStop, environmentStopHandler(c)),
    bind(environmentValidate, environmentValidateHandler(c)),
    bind(stateMigrate, stateMigrateHandler(c)),
    bind(environmentQuietDown, environmentQuietDownHandler(c)),
    bind(backupCreate, backupCreateHandler(c)),
    bind(backupList, backupListHandler(c)),
    bind(backupRestore, backupRestoreHandler(c)),
    bind(coordinationExecute, coordinationExecuteHandler(deps)),
  ];
}

export function registerEnvironmentMethods(registry: MethodRegistry, deps: EnvironmentMethodDeps): void {
  registry.add(...environmentMethods(deps));
}

export const coordinationExecuteHandler =
  (deps: EnvironmentMethodDeps): Handler<typeof coordinationExecute> =>
  async (params, call) => {
    const { store, runner, teams, docker } = deps;
    const jenkinsFor = deps.jenkinsFor ?? teamJenkinsClientFactory();
    let targets: Team[];
    if (params.scope === 'all') {
      if (!isOps(call.principal)) throw new SidecarError('FORBIDDEN', `coordination.execute with scope 'all' needs an ops token (teams ["*"]); token ${call.principal.tokenId} may only act on ${call.principal.teams.join(', ')}`, {});
      targets = teams.list();
      if (!targets.length) throw new SidecarError('NOT_FOUND', "scope 'all' needs a teams file (SIDECAR_TEAMS_FILE) listing the teams", {});
    } else {
      // The params schema refuses scope 'team' without a team.
      targets = [resolveTeam(teams, params.team ?? '')];
    }
    const rollout = { docker, store, jenkinsFor, networking: deps.networking ?? DEFAULT_NETWORKING, controllerFiles: deps.controllerFiles, traffic: deps.traffic, journal: store.journal, snapshotDir: deps.migrateSnapshotDir };
    const key = params.scope === 'all' ? 'environments:*' : teamKey(params.team ?? '');
    return runJournaled(runner, call, params.team ?? null, params, (ctx) => executeCoordinated(rollout, targets, params, ctx), key);
  };

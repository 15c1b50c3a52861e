import type Docker from 'dockerode';
import { trafficSwitchParams } from '../../../catalog/methods/traffic';
import { otherEnvironment, type Team } from '../../../catalog/teams-file';
import type { NetworkingConfig } from '../docker/container-spec';
import type { ControllerFilesConfig } from '../docker/controller-mounts';
import { isSidecarError, reasonOf, SidecarError } from '../sidecar-error';
import type { BreakerStore, EnvironmentStateStore, LockStore, OperationContext } from '../store/contract';
import { breakerNameFor, runTrafficSwitch, type TrafficDeps } from '../traffic/switch';
import type { JenkinsClientFactory } from './controllers';
import { deployEnvironment } from './deploy';
import type { StepJournal } from './journal-step';
import { report } from './journal-step';
import { stayedBehind, type ListedEntry, type StayedBehind } from './home-delta';
import { listHome, migrateState } from './migrate';
import { selectForMigration } from '../jenkins/home-layout';
import { coordinationNodeName } from '../../../catalog/coordination-node';
import { validateEnvironment } from './validate';

/**
 * coordination.execute (Pipeline B, infrastructure coordination, "Coordinated Execution"): an
 * infrastructure operation (version upgrade, plugin update, configuration
 * change) rolled out team by team as a blue/green move: deploy the idle side
 * from the (new) image, migrate configuration into it, validate it, then move
 * traffic progressively (traffic.switch, with its SLI rollback). The first
 * team that fails stops the rollout; later teams are skipped. Any failure
 * after the migration cancels the quiet-down of the side that keeps serving.
 */
export interface CoordinatedDeps {
  docker: Docker;
  store: { environments: EnvironmentStateStore; locks: LockStore; breakers: BreakerStore };
  jenkinsFor: JenkinsClientFactory;
  networking: NetworkingConfig;
  /** Passed on to environment.deploy (secrets and file:// library mounts). */
  controllerFiles?: ControllerFilesConfig;
  /** Without it (no HAProxy) the rollout stops after validation unless switchTraffic is false. */
  traffic?: TrafficDeps;
  journal?: StepJournal;
  /** Where each migration saves what it overwrites in the target (state.migrate's snapshotDir). */
  snapshotDir?: string;
}

export interface CoordinatedParams {
  operation: 'version_upgrade' | 'plugin_update' | 'configuration_change';
  details: Record<string, unknown>;
  /** The image to roll out; default details.image, else the team's image (rebuilt under the same tag). */
  image?: string;
  switchTraffic: boolean;
  timeoutSec: number;
  validationSec: number;
  /** Each team's switch: these, else traffic.switch's defaults. */
  increments?: number[];
  triggers?: string[];
  minSamples?: number;
}

export interface TeamOutcome {
  team: string;
  status: 'succeeded' | 'failed' | 'skipped';
  from?: string;
  to?: string;
  image?: string;
  jobs?: number;
  validated?: boolean;
  switched?: boolean;
  /** After a failure past the migration: what the new side did meanwhile and keeps (traffic stays on the old side). */
  stayedBehind?: StayedBehind;
  error?: { code: string; message: string };
}

const IMAGE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;

function imageFor(team: Team, params: CoordinatedParams): string {
  const fromDetails = typeof params.details.image === 'string' ? params.details.image : undefined;
  const image = params.image ?? fromDetails ?? team.image;
  if (!IMAGE_PATTERN.test(image)) throw new SidecarError('CONFLICT', `details.image ${JSON.stringify(image)} is not a Docker image reference`, { reason: 'invalid_details', image });
  return image;
}

async function rolloutTeam(deps: CoordinatedDeps, team: Team, params: CoordinatedParams, ctx: OperationContext): Promise<TeamOutcome> {
  const name = team.team_name;
  const state = await deps.store.environments.ensure(name, team.active_environment);
  const from = state.active;
  const to = otherEnvironment(from);
  const image = imageFor(team, params);
  if (state.weights[to] > 0) {
    throw new SidecarError('CONFLICT', `${name}/${to} already carries traffic (weights blue=${state.weights.blue} green=${state.weights.green}): a switch is under way or half done; finish or roll it back first`, { reason: 'target_serving', team: name });
  }
  await deps.store.breakers.admit(breakerNameFor(name));
  const outcome: TeamOutcome = { team: name, status: 'failed', from, to, image };
  const label = `${params.operation} of ${name}`;
  let sourceQuiet = false;
  let baseline: { entries: ListedEntry[]; select: ReturnType<typeof selectForMigration> } | null = null;
  try {
    report(ctx, 'deploy', `${label}: deploying ${name}/${to} from ${image}`, { team: name });
    await deployEnvironment({ docker: deps.docker, environments: deps.store.environments, jenkinsFor: deps.jenkinsFor, networking: deps.networking, controllerFiles: deps.controllerFiles, journal: deps.journal }, team, { target: to, image, timeoutSec: params.timeoutSec, replace: true }, ctx);
    report(ctx, 'migrate', `${label}: migrating configuration ${from} → ${to}`, { team: name });
    sourceQuiet = true; // from here on a failure must give the serving side its executors back
    const m = await migrateState({ docker: deps.docker, jenkinsFor: deps.jenkinsFor, journal: deps.journal, ...(deps.snapshotDir ? { snapshotDir: deps.snapshotDir } : {}), triggers: deps.traffic?.triggers }, team, { source: from, target: to, timeoutSec: params.timeoutSec, callerBuild: ctx.actor.build, operation: params.operation }, ctx);
    outcome.jobs = m.jobs;
    // The new side's home as the migration left it: a failure from here on reports what it did meanwhile.
    const select = selectForMigration({ ...m, ownNodes: [coordinationNodeName(team)] });
    baseline = await listHome(deps.docker, { id: team.environments[to].container, name: team.environments[to].container }, select)
      .then((entries) => ({ entries, select }))
      .catch(() => null);
    const v = await validateEnvironment({ docker: deps.docker, jenkinsFor: deps.jenkinsFor, environments: deps.store.environments }, team, { environment: to, source: from }, ctx);
    outcome.validated = v.passed;
    if (!v.passed) {
      const failed = v.checks.filter((c) => !c.passed);
      throw new SidecarError('CONFLICT', `${label}: ${name}/${to} failed validation (${failed.map((c) => `${c.name}: ${c.reason}`).join('; ')}); traffic stays on ${from}`, { reason: 'target_not_ready', checks: v.checks });
    }
    if (!params.switchTraffic) {
      outcome.switched = false;
    } else {
      if (!deps.traffic) throw new SidecarError('DEPENDENCY_DOWN', `${label}: no HAProxy Runtime API is configured (SIDECAR_HAPROXY_SOCKET), so traffic cannot move to ${to}; pass switchTraffic:false to stop after validation`, {});
      const owner = `coordination.execute:${ctx.operation.id}`;
      const grant = await deps.store.locks.acquire({ team: name, operation: 'blue_green_switch', ttlSec: Math.max(600, params.timeoutSec * 2), waitSec: 0, owner, actor: ctx.actor });
      try {
        report(ctx, 'switch', `${label}: moving traffic ${from} → ${to}`, { team: name });
        // Migrated above, and the source stays quiet while traffic moves: no second sync that would give it its executors back.
        await runTrafficSwitch({ ...deps.traffic, targetSync: undefined }, trafficSwitchParams.parse({ team: name, target: to, lockToken: grant.token, ...switchOptions(params) }), ctx);
      } finally {
        await deps.store.locks.release({ team: name, operation: 'blue_green_switch', token: grant.token, owner, actor: ctx.actor }).catch(() => undefined);
      }
      outcome.switched = true;
      sourceQuiet = false; // the old side no longer serves: it may stay quiet
    }
    if (!params.switchTraffic && sourceQuiet) {
      await deps.jenkinsFor(team, from).cancelQuietDown();
      sourceQuiet = false;
    }
    outcome.status = 'succeeded';
    return outcome;
  } catch (err) {
    if (sourceQuiet) await deps.jenkinsFor(team, from).cancelQuietDown().catch(() => undefined);
    if (baseline) await reportStayedBehind(deps, team, to, baseline, outcome, ctx);
    // traffic.switch keeps the breaker's books itself; earlier stages count here.
    if (!isSidecarError(err) || (err.code !== 'SLI_BREACH' && err.code !== 'BREAKER_OPEN')) {
      await deps.store.breakers.recordFailure(breakerNameFor(name), (err as Error).message).catch(() => undefined);
    }
    throw Object.assign(err as Error, { outcome });
  }
}

/**
 * Lists what the new side changed after its migration (builds that ran there
 * for visitors the switch sent, a config saved there) into the outcome, the
 * error data the journal keeps and a progress line: it stays on that side,
 * nothing is carried back silently or lost silently.
 */
async function reportStayedBehind(deps: CoordinatedDeps, team: Team, to: 'blue' | 'green', baseline: { entries: ListedEntry[]; select: ReturnType<typeof selectForMigration> }, outcome: TeamOutcome, ctx: OperationContext): Promise<void> {
  const container = team.environments[to].container;
  const now = await listHome(deps.docker, { id: container, name: container }, baseline.select).catch(() => null);
  if (!now) return;
  outcome.stayedBehind = stayedBehind(baseline.entries, now);
  const s = outcome.stayedBehind;
  const what = s.changed.length || s.removed.length ? `${s.changed.length} new or changed (${s.changed.slice(0, 5).join(', ')}${s.changed.length > 5 ? ', …' : ''}), ${s.removed.length} removed` : 'nothing';
  report(ctx, 'stayed_behind', `${team.team_name}/${to} changed ${what} after its migration; it stays there (traffic remains on the other side)`, { team: team.team_name, ...s });
}

export async function executeCoordinated(deps: CoordinatedDeps, teams: Team[], params: CoordinatedParams, ctx: OperationContext): Promise<{ operation: string; status: 'succeeded'; outcomes: TeamOutcome[] }> {
  const outcomes: TeamOutcome[] = [];
  for (let i = 0; i < teams.length; i++) {
    const team = teams[i];
    try {
      outcomes.push(await rolloutTeam(deps, team, params, ctx));
    } catch (err) {
      const code = isSidecarError(err) ? err.code : 'DEPENDENCY_DOWN';
      const failed: TeamOutcome = { ...((err as { outcome?: TeamOutcome }).outcome ?? { team: team.team_name }), status: 'failed', error: { code, message: (err as Error).message } };
      outcomes.push(failed, ...teams.slice(i + 1).map((t) => ({ team: t.team_name, status: 'skipped' as const })));
      throw SidecarError.withCode(code, `${params.operation} failed on team ${team.team_name}${teams.length > 1 ? ` (${i} team(s) done, ${teams.length - i - 1} skipped)` : ''}: ${(err as Error).message}`, { ...reasonOf(err), outcomes }, { cause: err });
    }
  }
  return { operation: params.operation, status: 'succeeded', outcomes };
}

/** What the caller chose for each team's switch; the rest falls to traffic.switch's defaults. */
export function switchOptions(p: Pick<CoordinatedParams, 'validationSec' | 'increments' | 'triggers' | 'minSamples'>): Record<string, unknown> {
  return {
    validationSec: p.validationSec,
    ...(p.increments ? { increments: p.increments } : {}),
    ...(p.triggers ? { triggers: p.triggers } : {}),
    ...(p.minSamples !== undefined ? { minSamples: p.minSamples } : {}),
  };
}

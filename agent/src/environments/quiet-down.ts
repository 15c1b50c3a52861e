import type Docker from 'dockerode';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { inspectManaged } from '../docker/containers';
import { SidecarError } from '../sidecar-error';
import type { OperationContext } from '../store/contract';
import type { JenkinsClientFactory } from './controllers';
import { journaled, report, type StepJournal } from './journal-step';

export interface QuietDownDeps {
  docker: Docker;
  jenkinsFor: JenkinsClientFactory;
  journal?: StepJournal;
}

export interface QuietDownParams {
  environment: EnvironmentName;
  /** true: lift the quiet-down (the controller starts builds again). */
  cancel: boolean;
  /** Shown by Jenkins while it is quieting down. */
  reason?: string;
}

export interface QuietDownResult {
  environment: EnvironmentName;
  container: string;
  running: boolean;
  quietingDown: boolean;
  changed: boolean;
}

/**
 * environment.quietDown: put one controller into quiet-down or lift it.
 *
 * Why it exists: the self-managed switch migrates state into the idle side
 * BEFORE moving traffic, and state.migrate leaves the source quieting down on
 * success (a build started there after the copy would lose its record when
 * traffic leaves). When the switch then rolls back, the source keeps all the
 * traffic and must start builds again: the pipeline's post { failure } lifts
 * the quiet-down through this method.
 *
 * Lifting it on a controller that is not running is a no-op (Jenkins does not
 * persist quiet-down: it starts without one); quieting one down is NOT_FOUND.
 */
export async function setQuietDown(deps: QuietDownDeps, team: Team, params: QuietDownParams, ctx?: OperationContext): Promise<QuietDownResult> {
  const env = params.environment;
  const container = team.environments[env].container;
  const label = `${team.team_name}/${env}`;
  const c = await inspectManaged(deps.docker, container, team.team_name, env);
  if (!c?.running) {
    if (params.cancel) {
      report(ctx, 'not_running', `${label} is not running (container ${container}): no quiet-down to lift`);
      return { environment: env, container, running: false, quietingDown: false, changed: false };
    }
    throw new SidecarError('NOT_FOUND', `${label} is not running (container ${container}); deploy it first (environment.deploy target=${env})`, { team: team.team_name, environment: env });
  }
  const jenkins = deps.jenkinsFor(team, env);
  const before = (await jenkins.root()).quietingDown === true;
  const wanted = !params.cancel;
  if (before !== wanted) {
    if (params.cancel) {
      report(ctx, 'cancel_quiet_down', `lifting quiet-down on ${label}`);
      await journaled(deps.journal, ctx, 'cancel_quiet_down', { environment: env }, () => jenkins.cancelQuietDown());
    } else {
      report(ctx, 'quiet_down', `quieting down ${label}`);
      await journaled(deps.journal, ctx, 'quiet_down', { environment: env }, () => jenkins.quietDown(params.reason));
    }
  }
  // Read back: the answer is what Jenkins says now, not what was asked.
  const after = (await jenkins.root()).quietingDown === true;
  if (after !== wanted) {
    throw new SidecarError('CONFLICT', `${label} still reports quietingDown=${after} after ${params.cancel ? 'cancelQuietDown' : 'quietDown'}; check its logs and retry`, { reason: 'state_not_reached', environment: env, quietingDown: after });
  }
  report(ctx, 'done', `${label} ${after ? 'is quieting down' : 'accepts new builds'}${before === after ? ' (unchanged)' : ''}`);
  return { environment: env, container, running: true, quietingDown: after, changed: before !== after };
}

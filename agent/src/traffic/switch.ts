import type { TrafficSwitchParams } from '../../../catalog/methods/traffic';
import { SidecarError } from '../sidecar-error';
import type { OperationContext } from '../store/contract';
import { noSwitchControl, type SwitchControl } from './switch/control';
import { concernHooks } from './switch/concern-hooks';
import type { SwitchHooks } from './switch/hooks';
import { SwitchRun, type SwitchSetup } from './switch/switch-run';
import { breakerNameFor, type SwitchResult } from './switch/types';
import { otherEnvironment } from '../../../catalog/teams-file';
import { discoverTeamBackends } from './team-backends';
import type { TrafficDeps } from './traffic-deps';

export type { TrafficDeps } from './traffic-deps';
export { trafficDeps } from './traffic-deps';
export { realSleep } from './unconfigured';
export { breakerNameFor, type StepRecord, type SwitchResult } from './switch/types';

/**
 * traffic.switch: the progressive blue/green move, owned by the sidecar from
 * start to end. Preconditions (fencing token, breaker, target UP), then per
 * increment: set both weights (journaled before and after), sample `show stat`
 * about once a second for the window, judge the triggers on the window's
 * deltas; on a breach put everything back at once. At 100% validated: drain the
 * old side, then maint, then promote in environment_state. The moves between
 * these phases are a state machine: switch/switch-run.ts.
 *
 * The weights place new sessions only: HAProxy pins each person to the controller
 * holding their session (haproxy.cfg's cookie). The 100% step is the final cut
 * (the old side at 0 loses its pinned people, each once); a rollback puts the
 * target at 0, which moves everyone off it, pinned or not.
 */
export interface SwitchOptions {
  /** Other concerns acting at the phase ends (default: those TrafficDeps configures, switch/concern-hooks.ts). */
  hooks?: SwitchHooks;
  /** A person's say between steps and samples (nobody by default). */
  control?: SwitchControl;
}

export async function runTrafficSwitch(deps: TrafficDeps, params: TrafficSwitchParams, ctx: OperationContext, opts: SwitchOptions = {}): Promise<SwitchResult> {
  const setup = await checkPreconditions(deps, params);
  const { team, target } = params;
  const source = otherEnvironment(target);
  const { state } = setup;
  if (state.active === target && state.weights[target] === 100 && state.weights[source] === 0) {
    ctx.progress({ phase: 'done', message: `${target} already has all traffic for ${team}; nothing to switch` });
    return { status: 'promoted', from: source, to: target, alreadyActive: true, steps: [], drained: null };
  }
  try {
    await deps.webhooks.notify(team, 'pre-switch', { operationId: ctx.operation.id, from: source, to: target, initiatedBy: ctx.actor.build ?? ctx.actor.tokenId });
  } catch (err) {
    throw new SidecarError('CONFLICT', `the pre-switch webhook for team ${team} refused the switch: ${(err as Error).message}; nothing was changed`, { reason: 'webhook_refused', team });
  }
  return new SwitchRun(deps, params, ctx, setup, opts.hooks ?? concernHooks(deps), opts.control ?? noSwitchControl).run();
}

/** Nothing has been changed yet, so a failure here is just an error. */
async function checkPreconditions(deps: TrafficDeps, params: TrafficSwitchParams): Promise<SwitchSetup> {
  const { store, haproxy } = deps;
  const team = params.team;
  const config = deps.teamConfig(team);
  await store.locks.assertHeld({ team, operation: params.lockOperation, token: params.lockToken });
  await store.breakers.admit(breakerNameFor(team));
  const state = await store.environments.ensure(team, config?.active_environment ?? 'blue');
  const { backends: tb, state: serversState } = await discoverTeamBackends(haproxy, team, config);
  return { state, tb, serversState, config };
}

import { trafficSwitchParams } from '../../../catalog/methods/traffic';
import type { OperationRunner } from '../operations/runner';
import type { Actor, OperationRecord } from '../store/contract';
import { concernHooks } from './switch/concern-hooks';
import type { Hold, SwitchControl } from './switch/control';
import type { ResumePoint } from './switch/resume-point';
import { SwitchRun } from './switch/switch-run';
import type { SwitchControls } from './switch-control';
import { discoverTeamBackends } from './team-backends';
import type { TrafficDeps } from './traffic-deps';

/**
 * Puts a switch found paused in the journal back to work in this process: the run is rebuilt
 * from the operation's row (its params) and the resume point, registered in SwitchControls (so
 * traffic.resume / promote / abort reach it) and run in the background by the OperationRunner
 * under the same operation, which it finishes as a normal run does. The caller's lock stays
 * the caller's: the run goes on fencing against the params' lockToken.
 */
export interface PausedSwitchResumer {
  /** Resolves once the run is under way; throws when it cannot be (recovery then rolls it back). */
  resume(deps: TrafficDeps, op: OperationRecord, point: ResumePoint, actor: Actor): Promise<void>;
}

export function pausedSwitchResumer(r: { runner: Pick<OperationRunner, 'continueOwned'>; controls: SwitchControls }): PausedSwitchResumer {
  return {
    async resume(deps, op, point, actor) {
      const params = trafficSwitchParams.parse(op.params);
      const { team } = params;
      const config = deps.teamConfig(team);
      const state = await deps.store.environments.ensure(team, config?.active_environment ?? 'blue');
      const { backends: tb, state: serversState } = await discoverTeamBackends(deps.haproxy, team, config);
      const setup = { state, tb, serversState, config };
      const control = holdAgain(r.controls, team, op.id, point.hold);
      try {
        r.runner.continueOwned(op, actor, (ctx) => new SwitchRun(deps, params, ctx, setup, concernHooks(deps), control, { resumeAt: point, initiatedBy: op.initiatedBy }).run());
      } catch (err) {
        // Not running after all: commands must not find it.
        control.release();
        throw err;
      }
    },
  };
}

/**
 * The switch's control, holding it as the journal says: a person's pause as the pause command
 * made it (same since, by, reason, maxPauseSec; nothing journaled again), a gate's as the gate
 * holds it. Before the run's first checkpoint, so traffic.resume / promote / abort find it paused.
 */
function holdAgain(controls: SwitchControls, team: string, operationId: string, hold: Hold): SwitchControl {
  const control = controls.attach(team, operationId);
  if (hold.gate !== undefined) control.awaitApproval(hold);
  else controls.command(team, { verb: 'pause', at: hold.since, by: hold.by, reason: hold.reason, ...(hold.maxPauseSec ? { maxPauseSec: hold.maxPauseSec } : {}) });
  return control;
}

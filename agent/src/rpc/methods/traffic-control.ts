import { trafficAbort, trafficPause, trafficPromote, trafficResume } from '../../../../catalog/methods/traffic-control';
import type { TeamDirectory } from '../../config/team-directory';
import { commandSwitch, type CommandInput, type SwitchCommandDeps } from '../../traffic/switch-commands';
import { bind, type CallContext, type Handler, type RegisteredMethod } from '../registry';

/**
 * Handlers of a person's say in a running switch (catalog/methods/traffic-control.ts):
 * one line each over commandSwitch. The dispatcher has checked the token may act
 * on params.team and audits the call with its params (the reason).
 */
export interface TrafficControlDeps {
  teams: TeamDirectory;
  commands: SwitchCommandDeps;
}

const steer = async <I extends CommandInput>(deps: TrafficControlDeps, p: { team: string; reason: string; operationId?: string | undefined }, call: CallContext, input: I) => {
  deps.teams.require(p.team);
  const answer = await commandSwitch(deps.commands, { team: p.team, reason: p.reason, by: call.actor.build ?? call.actor.tokenId, input, ...(p.operationId ? { operationId: p.operationId } : {}) });
  // The audit row of the command names the switch it steered.
  call.operationId = answer.operationId;
  return { ...answer, command: input.verb as I['verb'] };
};

export const trafficPauseHandler =
  (deps: TrafficControlDeps): Handler<typeof trafficPause> =>
  (p, call) =>
    steer(deps, p, call, { verb: 'pause', ...(p.maxPauseSec ? { maxPauseSec: p.maxPauseSec } : {}) });

export const trafficResumeHandler =
  (deps: TrafficControlDeps): Handler<typeof trafficResume> =>
  (p, call) =>
    steer(deps, p, call, { verb: 'resume' });

export const trafficPromoteHandler =
  (deps: TrafficControlDeps): Handler<typeof trafficPromote> =>
  (p, call) =>
    steer(deps, p, call, { verb: 'promote', full: p.full });

export const trafficAbortHandler =
  (deps: TrafficControlDeps): Handler<typeof trafficAbort> =>
  (p, call) =>
    steer(deps, p, call, { verb: 'abort', hold: p.hold });

export const trafficControlMethods = (deps: TrafficControlDeps): RegisteredMethod[] => [
  bind(trafficPause, trafficPauseHandler(deps)),
  bind(trafficResume, trafficResumeHandler(deps)),
  bind(trafficPromote, trafficPromoteHandler(deps)),
  bind(trafficAbort, trafficAbortHandler(deps)),
];

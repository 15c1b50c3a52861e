import { otherEnvironment, type EnvironmentName, type Team } from '../../../catalog/teams-file';
import { SidecarError } from '../sidecar-error';
import type { EnvironmentStateStore, TeamEnvironmentState } from '../store/contract';

/** Pure: an environment "serves" when its desired HAProxy weight is above 0. */
export const isServing = (state: TeamEnvironmentState, env: EnvironmentName): boolean => state.weights[env] > 0;

/** CONFLICT when `env` carries traffic: replacing, stopping or overwriting it would drop requests. */
export async function refuseIfServing(store: EnvironmentStateStore, team: Team, env: EnvironmentName, action: string): Promise<TeamEnvironmentState> {
  const state = await store.ensure(team.team_name, team.active_environment);
  if (isServing(state, env)) {
    const other = otherEnvironment(env);
    throw new SidecarError(
      'CONFLICT',
      `cannot ${action} ${team.team_name}/${env}: it carries traffic (desired weights blue=${state.weights.blue} green=${state.weights.green}); move traffic to ${other} first (traffic.switch target=${other}), then retry`,
      { reason: 'target_serving', team: team.team_name, environment: env, weights: state.weights },
    );
  }
  return state;
}

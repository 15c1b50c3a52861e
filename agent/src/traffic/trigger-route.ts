import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { triggersBackendName } from '../../../catalog/haproxy-names';
import { checkRuntimeName } from '../haproxy/commands';
import type { HaproxyDriver } from '../haproxy/runtime-api';
import { otherEnvironment } from '../../../catalog/teams-file';
import { teamBackendNames } from './team-backends';

/**
 * Where a team's webhooks and build triggers go: the triggers backend of the
 * generated haproxy.cfg has both controllers, one at weight 1 (it takes them
 * all) and the other at 0 (a weight-0 server is never chosen, and the backend
 * has no cookie that could still pin a request to it).
 */
export type TriggerRoute = { routed: true; backend: string; to: EnvironmentName } | { routed: false; backend: string; why: string };

/**
 * Sends the team's triggers to `to`: its server to weight 1 first, then the
 * other to 0, so no trigger meets a backend without a server. A trigger that
 * reaches the old side in between stays queued there if it is quieted down
 * and is handed over with the others (queue-handover.ts).
 */
export async function routeTriggers(haproxy: HaproxyDriver, team: Team, to: EnvironmentName): Promise<TriggerRoute> {
  const backend = triggersBackendName(team.team_name);
  checkRuntimeName('backend', backend);
  const { servers } = teamBackendNames(team.team_name, team);
  const state = await haproxy.showServersState();
  const has = (server: string): boolean => state.some((s) => s.backend === backend && s.server === server);
  if (!has(servers[to]) || !has(servers[otherEnvironment(to)])) {
    return { routed: false, backend, why: `HAProxy has no ${backend} with ${servers.blue} and ${servers.green} (a config rendered before triggers had their backend): webhooks follow the web backend's weights` };
  }
  await haproxy.setWeights([{ backend, server: servers[to], weight: 1 }]);
  await haproxy.setWeights([{ backend, server: servers[otherEnvironment(to)], weight: 0 }]);
  return { routed: true, backend, to };
}

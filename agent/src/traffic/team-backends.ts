import { agentBackendName, defaultBackendName, serverName } from '../../../catalog/haproxy-names';
import { ENVIRONMENTS, otherEnvironment, type EnvironmentName, type Team } from '../../../catalog/teams-file';
import { SidecarError } from '../sidecar-error';
import { checkRuntimeName } from '../haproxy/commands';
import type { HaproxyDriver } from '../haproxy/runtime-api';
import type { ServerState } from '../haproxy/stats';

/**
 * Where a team lives in HAProxy: its web backend (always) and its agent TCP
 * backend (when the config has one), each with `<team>-blue` and `<team>-green`.
 * Weights go to every backend; health and admin state to the web one (the agent
 * servers track it).
 */
export interface TeamBackends {
  team: string;
  web: string;
  backends: string[];
  servers: Record<EnvironmentName, string>;
}

export type Weights = { blue: number; green: number };

/** Derived from the teams file alone (for a team the sidecar has no config for: the default names). */
export function teamBackendNames(team: string, config?: Team): { web: string; agent: string; servers: Record<EnvironmentName, string> } {
  const web = config?.haproxy_backend ?? defaultBackendName(team);
  const servers = {
    blue: config?.environments.blue.server ?? serverName(team, 'blue'),
    green: config?.environments.green.server ?? serverName(team, 'green'),
  };
  checkRuntimeName('backend', web);
  checkRuntimeName('server', servers.blue);
  checkRuntimeName('server', servers.green);
  return { web, agent: agentBackendName(team), servers };
}

/** Finds the team's backends in HAProxy's live state; NOT_FOUND when the web backend lacks a server. */
export async function discoverTeamBackends(haproxy: HaproxyDriver, team: string, config?: Team): Promise<{ backends: TeamBackends; state: ServerState[] }> {
  const names = teamBackendNames(team, config);
  const state = await haproxy.showServersState();
  const has = (backend: string, server: string): boolean => state.some((s) => s.backend === backend && s.server === server);
  for (const env of ENVIRONMENTS) {
    if (!has(names.web, names.servers[env])) {
      throw new SidecarError(
        'NOT_FOUND',
        `HAProxy has no server ${names.web}/${names.servers[env]}; regenerate the HAProxy config from the teams file (library-gen build) and reload haproxy`,
        { team, backend: names.web, server: names.servers[env] },
      );
    }
  }
  const backends = [names.web];
  if (ENVIRONMENTS.every((env) => has(names.agent, names.servers[env]))) backends.push(names.agent);
  return { backends: { team, web: names.web, backends, servers: names.servers }, state };
}

export function weightChanges(tb: TeamBackends, weights: Weights): Array<{ backend: string; server: string; weight: number }> {
  return tb.backends.flatMap((backend) => ENVIRONMENTS.map((env) => ({ backend, server: tb.servers[env], weight: weights[env] })));
}

/** Weights with `pct` percent on `target`. */
export function splitWeights(target: EnvironmentName, pct: number): Weights {
  const w = { blue: 0, green: 0 };
  w[target] = pct;
  w[otherEnvironment(target)] = 100 - pct;
  return w;
}

/** Weights HAProxy holds now for the team's web backend. */
export function liveWeights(tb: TeamBackends, state: ServerState[]): Weights {
  const find = (env: EnvironmentName): number => state.find((s) => s.backend === tb.web && s.server === tb.servers[env])?.weight ?? -1;
  return { blue: find('blue'), green: find('green') };
}

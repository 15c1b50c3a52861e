import { ENVIRONMENTS, type EnvironmentName } from '../../../catalog/teams-file';
import type { TrafficDeps } from './traffic-deps';
import { readRunningSwitch, type RunningSwitch } from './running-switch';
import { discoverTeamBackends, liveWeights, type Weights } from './team-backends';

/** traffic.status: what HAProxy holds now beside what the sidecar wants it to hold, and the switch moving it. */
export interface TrafficStatus {
  team: string;
  desired: Weights;
  live: Weights;
  inSync: boolean;
  servers: Array<{ backend: string; server: string; environment: EnvironmentName; status: string; weight: number; sessions: number; checkStatus: string }>;
  /** The team's running switch as its journal says (paused or not); null when none runs. */
  switch: RunningSwitch | null;
}

export async function trafficStatus(deps: Pick<TrafficDeps, 'store' | 'haproxy' | 'teamConfig'>, team: string): Promise<TrafficStatus> {
  const config = deps.teamConfig(team);
  const desired = (await deps.store.environments.ensure(team, config?.active_environment ?? 'blue')).weights;
  const { backends: tb, state } = await discoverTeamBackends(deps.haproxy, team, config);
  const stats = await deps.haproxy.showStat();
  const servers = tb.backends.flatMap((backend) =>
    ENVIRONMENTS.map((environment) => {
      const s = stats.find((x) => x.backend === backend && x.server === tb.servers[environment]);
      return { backend, server: tb.servers[environment], environment, status: s?.status ?? 'missing', weight: s?.weight ?? -1, sessions: s?.scur ?? 0, checkStatus: s?.checkStatus ?? '' };
    }),
  );
  const live = liveWeights(tb, state);
  const running = await readRunningSwitch(deps.store.journal, team);
  return { team, desired, live, inSync: servers.every((s) => s.weight === desired[s.environment]), servers, switch: running };
}

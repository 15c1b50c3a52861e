import { ENVIRONMENTS, type Team } from '../../../catalog/teams-file';
import type { HaproxyDriver } from '../haproxy/runtime-api';
import type { EnvironmentStateStore, TeamEnvironmentState } from '../store/contract';
import { teamBackendNames, type Weights } from './team-backends';
import { noTeamConfig, silentLog } from './unconfigured';

/**
 * Desired state survives HAProxy reloads: runtime weights are lost when
 * HAProxy reloads or restarts (unless its server-state file was saved first),
 * so the sidecar keeps the desired weights in Postgres and re-applies them
 * whenever HAProxy's differ: once at start and then on a short period.
 *
 * HAProxy is read BEFORE Postgres and Postgres is read again just before
 * applying, so a switch moving weights at the same moment is never reverted.
 */
export interface ReconcileDeps {
  environments: Pick<EnvironmentStateStore, 'list' | 'get'>;
  haproxy: HaproxyDriver;
  teamConfig?: (team: string) => Team | undefined;
  log?: { info(m: string, meta?: Record<string, unknown>): void; warn(m: string, meta?: Record<string, unknown>): void };
  /**
   * Teams to leave alone this round: a rollback applied without Postgres owes
   * its desired weights (deferred-writes.ts), so the ones in Postgres are stale
   * and re-applying them would undo the safety move.
   */
  skipTeam?: (team: string) => boolean;
  /** Each round's states of the teams not skipped (the cache rollback.emergency falls back on, last-read-state.ts). */
  onRead?: (states: TeamEnvironmentState[]) => void;
}

export interface Repair {
  team: string;
  backend: string;
  live: Weights;
  desired: Weights;
}

/** The parts a caller left out, as null objects: default names, no log, no team skipped, nobody told. */
const complete = (deps: ReconcileDeps): Required<ReconcileDeps> => ({ teamConfig: noTeamConfig, log: silentLog, skipTeam: () => false, onRead: () => undefined, ...deps });

export async function reconcileWeightsOnce(given: ReconcileDeps): Promise<Repair[]> {
  const deps = complete(given);
  const live = await deps.haproxy.showServersState();
  const states = await deps.environments.list();
  deps.onRead(states.filter((st) => !deps.skipTeam(st.team)));
  const repairs: Repair[] = [];
  for (const st of states) {
    if (deps.skipTeam(st.team)) continue;
    let names: ReturnType<typeof teamBackendNames>;
    try {
      names = teamBackendNames(st.team, deps.teamConfig(st.team));
    } catch {
      continue; // a name HAProxy could not hold; the switch refuses it too
    }
    const changes: Array<{ backend: string; server: string; weight: number }> = [];
    for (const backend of [names.web, names.agent]) {
      const rows = ENVIRONMENTS.map((env) => live.find((s) => s.backend === backend && s.server === names.servers[env]));
      if (rows.some((r) => r === undefined)) continue; // not in this HAProxy's config
      const current = { blue: rows[0]!.weight, green: rows[1]!.weight };
      if (current.blue === st.weights.blue && current.green === st.weights.green) continue;
      repairs.push({ team: st.team, backend, live: current, desired: st.weights });
      for (const env of ENVIRONMENTS) changes.push({ backend, server: names.servers[env], weight: st.weights[env] });
    }
    if (changes.length === 0) continue;
    const again = await deps.environments.get(st.team);
    if (!again || again.weights.blue !== st.weights.blue || again.weights.green !== st.weights.green) continue; // moved meanwhile: next round
    if (deps.skipTeam(st.team)) continue; // a safety move happened meanwhile
    await deps.haproxy.setWeights(changes);
    deps.log.warn('re-applied desired HAProxy weights (HAProxy reloaded or was changed by hand)', { team: st.team, desired: st.weights });
  }
  return repairs;
}

/** Runs reconcileWeightsOnce now and every `intervalMs`; errors are logged once per kind, never thrown. */
export function startWeightReconciler(opts: ReconcileDeps & { intervalMs?: number; onRepairs?: (r: Repair[]) => void }): { stop(): Promise<void> } {
  const intervalMs = opts.intervalMs ?? 2000;
  const onRepairs = opts.onRepairs ?? ((): void => undefined);
  const deps = complete(opts);
  let stopped = false;
  let lastError = '';
  let current: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const round = async (): Promise<void> => {
    try {
      const repairs = await reconcileWeightsOnce(deps);
      if (repairs.length) onRepairs(repairs);
      if (lastError) deps.log.info('weight reconcile works again');
      lastError = '';
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== lastError) deps.log.warn('weight reconcile failed; retrying', { error: msg });
      lastError = msg;
    }
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      current = round().finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  current = round().finally(schedule);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}

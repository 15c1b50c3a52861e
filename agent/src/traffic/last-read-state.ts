import type { EnvironmentStateStore, TeamEnvironmentState } from '../store/contract';

/**
 * Each team's environment_state as this sidecar last read (or wrote) it in
 * Postgres: every answer of the traffic area's environment store (`watch`) and
 * each reconcile round's list. rollback.emergency uses it only when Postgres
 * cannot be asked: it names the last known good side to move traffic to.
 * A team with writes owed after a safety move (`stale`) is not refreshed from
 * Postgres: the rows there are behind until the writes land; the move itself
 * is noted instead.
 */
export class LastReadEnvironments {
  private readonly byTeam = new Map<string, TeamEnvironmentState>();

  constructor(private readonly stale: (team: string) => boolean = () => false) {}

  remember(states: readonly TeamEnvironmentState[]): void {
    for (const s of states) if (!this.stale(s.team)) this.byTeam.set(s.team, { ...s, weights: { ...s.weights } });
  }

  get(team: string): TeamEnvironmentState | undefined {
    const s = this.byTeam.get(team);
    return s ? { ...s, weights: { ...s.weights } } : undefined;
  }

  /**
   * After an emergency move made without Postgres: what the owed promote will
   * write (active = last known good = target, all weight on it), so a second
   * call during the same outage picks the same side.
   */
  noteEmergencyMove(team: string, target: TeamEnvironmentState['active'], at: Date): void {
    const before = this.byTeam.get(team);
    const previous = before && before.active !== target ? before.active : (before?.previous ?? null);
    this.byTeam.set(team, {
      team,
      active: target,
      previous,
      lastKnownGood: target,
      weights: target === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 },
      updatedAt: at,
    });
  }

  /** The same store, remembering every state it answers with (a switch's promote is known at once, not a reconcile round later). */
  watch(store: EnvironmentStateStore): EnvironmentStateStore {
    const seen = async <T extends TeamEnvironmentState | TeamEnvironmentState[] | null>(p: Promise<T>): Promise<T> => {
      const v = await p;
      if (Array.isArray(v)) this.remember(v);
      else if (v) this.remember([v]);
      return v;
    };
    return {
      ensure: (team, initialActive) => seen(store.ensure(team, initialActive)),
      get: (team) => seen(store.get(team)),
      setDesiredWeights: (team, weights) => store.setDesiredWeights(team, weights),
      promote: (team, target) => seen(store.promote(team, target)),
      recordHealth: (team, env, status, metadata) => store.recordHealth(team, env, status, metadata),
      list: () => seen(store.list()),
    };
  }
}

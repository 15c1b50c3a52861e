import type { BreakerStatus, LockGrant, Store } from './contract';

/**
 * Live locks and circuit breakers as one caller may see them: a team token only
 * its teams', an ops token (visible undefined) all. The RPC methods lock.list /
 * breaker.status and the HTTP /api/v1/locks and /api/v1/breakers list through here,
 * so both paths hide the same rows.
 */
export type VisibleTeams = ReadonlySet<string> | undefined;

/** A lock name is `<team>:<operation>`. */
export const teamOfLock = (lockName: string): string => lockName.split(':')[0] ?? '';

/** Breaker names end in `:<team>` (e.g. infrastructure_modification:devops); others are global. */
export function teamOfBreaker(name: string): string | null {
  const i = name.lastIndexOf(':');
  return i >= 0 ? name.slice(i + 1) : null;
}

export async function listVisibleLocks(store: Pick<Store, 'locks'>, visible: VisibleTeams, team?: string): Promise<LockGrant[]> {
  const locks = await store.locks.list(team ? { team } : undefined);
  return locks.filter((l) => (!team || teamOfLock(l.lockName) === team) && (!visible || visible.has(teamOfLock(l.lockName))));
}

/** Global breakers (no team part) are shown to ops tokens only. */
export async function listVisibleBreakers(store: Pick<Store, 'breakers'>, visible: VisibleTeams, team?: string): Promise<BreakerStatus[]> {
  const list = await store.breakers.list();
  return list.filter((b) => {
    const t = teamOfBreaker(b.name);
    if (team && t !== team) return false;
    return !visible || (t !== null && visible.has(t));
  });
}

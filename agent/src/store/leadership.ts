import type { Pool } from 'pg';
import { SidecarError } from '../sidecar-error';
import { LeaderLease, LeadershipStore } from './contract';
import { checkInstanceId, checkScope, isoSeconds } from './names';

/**
 * Health-based leadership: one lease per scope (team:<t> or global) in
 * leadership_leases. A candidate takes the lease when it is free or expired,
 * when the leader has stopped heartbeating, or when the candidate is healthier
 * than the leader by at least HEALTH_MARGIN; otherwise NOT_LEADER names the
 * leader. The margin is the anti-flapping rule: equally (or nearly equally)
 * healthy live candidates never take the lease from each other. The token
 * (from the shared fencing sequence) changes only when the leader changes.
 */
export const HEALTH_MARGIN = 20;
const MAX_LEASE_SEC = 3600;
/** Namespace for the scope's advisory lock (two-key form: namespace, hashtext(scope)). */
const LEADERSHIP_LOCK_NAMESPACE = 31_337;

export type LeadershipDecision = { kind: 'renew' } | { kind: 'take'; why: string } | { kind: 'reject' };

/** Pure: what establish() does. Health is null for an instance that is not live. */
export function decideLeadership(input: {
  lease: { leader: string; expiresAt: Date } | null;
  now: Date;
  candidate: string;
  candidateHealth: number | null;
  leaderHealth: number | null;
  margin?: number;
}): LeadershipDecision {
  const { lease, now, candidate, candidateHealth, leaderHealth } = input;
  const margin = input.margin ?? HEALTH_MARGIN;
  if (!lease || lease.expiresAt.getTime() <= now.getTime()) return { kind: 'take', why: lease ? 'lease expired' : 'lease free' };
  if (lease.leader === candidate) return { kind: 'renew' };
  if (leaderHealth === null) return { kind: 'take', why: `leader ${lease.leader} stopped heartbeating` };
  if (candidateHealth !== null && candidateHealth >= leaderHealth + margin) {
    return { kind: 'take', why: `candidate health ${candidateHealth} exceeds leader's ${leaderHealth} by ${margin} or more` };
  }
  return { kind: 'reject' };
}

interface LeaseRow {
  scope: string;
  leader: string;
  fencing_token: string;
  expires_at: Date;
}
const toLease = (r: LeaseRow): LeaderLease => ({ scope: r.scope, leader: r.leader, token: Number(r.fencing_token), expiresAt: r.expires_at });

export class PgLeadershipStore implements LeadershipStore {
  constructor(private readonly pool: Pool) {}

  async establish(req: { scope: string; candidate: string; leaseSec: number }): Promise<LeaderLease> {
    const scope = checkScope(req.scope);
    const candidate = checkInstanceId(req.candidate);
    const leaseSec = Math.trunc(req.leaseSec);
    if (!(leaseSec >= 1 && leaseSec <= MAX_LEASE_SEC)) throw new RangeError(`leaseSec must be 1..${MAX_LEASE_SEC}, got ${req.leaseSec}`);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Serialise establish() per scope, including the very first one (no row to lock yet).
      await client.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2::text))', [LEADERSHIP_LOCK_NAMESPACE, scope]);
      const q = await client.query<{
        leader: string | null;
        expires_at: Date | null;
        fencing_token: string | null;
        lease_sec: number | null;
        db_now: Date;
        candidate_health: number | null;
        leader_health: number | null;
      }>(
        `SELECT l.leader, l.expires_at, l.fencing_token, l.lease_sec, now() AS db_now,
                (SELECT health_score FROM participants WHERE instance_id = $2::text
                   AND last_heartbeat > now() - $3::int * interval '1 second') AS candidate_health,
                (SELECT health_score FROM participants WHERE instance_id = l.leader
                   AND last_heartbeat > now() - l.lease_sec * interval '1 second') AS leader_health
           FROM (SELECT 1) AS one LEFT JOIN leadership_leases l ON l.scope = $1::text`,
        [scope, candidate, leaseSec],
      );
      const row = q.rows[0];
      const lease = row.leader && row.expires_at ? { leader: row.leader, expiresAt: row.expires_at } : null;
      const decision = decideLeadership({ lease, now: row.db_now, candidate, candidateHealth: row.candidate_health, leaderHealth: row.leader_health });
      if (decision.kind === 'reject') {
        await client.query('ROLLBACK');
        throw new SidecarError(
          'NOT_LEADER',
          `instance ${row.leader} leads ${scope} (health ${row.leader_health}, lease until ${isoSeconds(row.expires_at as Date)}); ` +
            `${candidate} (health ${row.candidate_health ?? 'unknown: no recent heartbeat'}) is not healthier by ${HEALTH_MARGIN}; ` +
            `run the operation through ${row.leader}'s sidecar or wait for its lease to lapse`,
          { scope, leader: row.leader, token: Number(row.fencing_token), expiresAt: (row.expires_at as Date).toISOString(), candidate },
        );
      }
      const r =
        decision.kind === 'renew'
          ? await client.query<LeaseRow>(
              `UPDATE leadership_leases SET expires_at = now() + $2::int * interval '1 second', lease_sec = $2::int
                WHERE scope = $1::text RETURNING scope, leader, fencing_token, expires_at`,
              [scope, leaseSec],
            )
          : await client.query<LeaseRow>(
              `INSERT INTO leadership_leases (scope, leader, fencing_token, lease_sec, acquired_at, expires_at)
               VALUES ($1::text, $2::text, jsm_next_fencing_token(), $3::int, now(), now() + $3::int * interval '1 second')
               ON CONFLICT (scope) DO UPDATE SET leader = EXCLUDED.leader, fencing_token = EXCLUDED.fencing_token,
                 lease_sec = EXCLUDED.lease_sec, acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at
               RETURNING scope, leader, fencing_token, expires_at`,
              [scope, candidate, leaseSec],
            );
      await client.query('COMMIT');
      return toLease(r.rows[0]);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async current(scope: string): Promise<LeaderLease | null> {
    const r = await this.pool.query<LeaseRow>(
      'SELECT scope, leader, fencing_token, expires_at FROM leadership_leases WHERE scope = $1::text AND expires_at > now()',
      [checkScope(scope)],
    );
    return r.rows[0] ? toLease(r.rows[0]) : null;
  }

  async resign(scope: string, candidate: string): Promise<void> {
    await this.pool.query('DELETE FROM leadership_leases WHERE scope = $1::text AND leader = $2::text', [checkScope(scope), checkInstanceId(candidate)]);
  }

  async list(): Promise<LeaderLease[]> {
    const r = await this.pool.query<LeaseRow>('SELECT scope, leader, fencing_token, expires_at FROM leadership_leases WHERE expires_at > now() ORDER BY scope');
    return r.rows.map(toLease);
  }
}

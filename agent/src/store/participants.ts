import type { Pool } from 'pg';
import { Participant, ParticipantStore } from './contract';
import { checkInstanceId } from './names';

/**
 * Sidecars taking part in leadership and consensus. A heartbeat also renews
 * every leadership lease the instance holds (by that lease's own length), so a
 * leader stays leader exactly as long as it keeps beating; when it stops, its
 * leases lapse within one lease period and another candidate can take over.
 */
interface Row {
  instance_id: string;
  health_score: number;
  details: Record<string, unknown>;
  last_heartbeat: Date;
}

export class PgParticipantStore implements ParticipantStore {
  constructor(private readonly pool: Pool) {}

  async heartbeat(instanceId: string, healthScore: number, details: Record<string, unknown> = {}): Promise<void> {
    checkInstanceId(instanceId);
    const score = Math.round(healthScore);
    if (!(score >= 0 && score <= 100)) throw new RangeError(`health score must be 0..100, got ${healthScore}`);
    await this.pool.query(
      `WITH beat AS (
         INSERT INTO participants (instance_id, health_score, details, last_heartbeat)
         VALUES ($1::text, $2::int, $3::jsonb, now())
         ON CONFLICT (instance_id) DO UPDATE SET health_score = EXCLUDED.health_score, details = EXCLUDED.details, last_heartbeat = now())
       UPDATE leadership_leases SET expires_at = now() + lease_sec * interval '1 second'
        WHERE leader = $1::text AND expires_at > now()`,
      [instanceId, score, JSON.stringify(details)],
    );
  }

  async live(withinSec: number): Promise<Participant[]> {
    const r = await this.pool.query<Row>(
      `SELECT instance_id, health_score, details, last_heartbeat FROM participants
        WHERE last_heartbeat > now() - $1::double precision * interval '1 second' ORDER BY instance_id`,
      [Math.max(0, withinSec)],
    );
    return r.rows.map((x) => ({ instanceId: x.instance_id, healthScore: x.health_score, details: x.details, lastHeartbeat: x.last_heartbeat }));
  }

  /** Graceful shutdown: stop counting as live and give up leases at once instead of letting them lapse. */
  async leave(instanceId: string): Promise<void> {
    await this.pool.query(
      `WITH gone AS (DELETE FROM participants WHERE instance_id = $1::text)
       DELETE FROM leadership_leases WHERE leader = $1::text`,
      [checkInstanceId(instanceId)],
    );
  }
}

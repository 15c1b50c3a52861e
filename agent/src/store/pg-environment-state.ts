import type { Pool } from 'pg';
import { ENVIRONMENTS, EnvironmentName } from '../../../catalog/teams-file';
import { SidecarError } from '../sidecar-error';
import { EnvironmentStateStore, TeamEnvironmentState } from './contract';
import { checkTeam } from './names';

/**
 * Per team: active / previous / last-known-good in team_environment; per team
 * and environment: status, health and the desired HAProxy weight in
 * environment_state (see migration 000001 for why they are split).
 */
interface Row {
  team_name: string;
  active_environment: EnvironmentName;
  previous_environment: EnvironmentName | null;
  last_known_good: EnvironmentName;
  updated_at: Date;
  blue_weight: number;
  green_weight: number;
}

const SELECT = `
  SELECT t.team_name, t.active_environment, t.previous_environment, t.last_known_good,
         GREATEST(t.updated_at, b.updated_at, g.updated_at) AS updated_at,
         b.desired_weight AS blue_weight, g.desired_weight AS green_weight
    FROM team_environment t
    JOIN environment_state b ON b.team_name = t.team_name AND b.environment = 'blue'
    JOIN environment_state g ON g.team_name = t.team_name AND g.environment = 'green'`;

const toState = (r: Row): TeamEnvironmentState => ({
  team: r.team_name,
  active: r.active_environment,
  previous: r.previous_environment,
  weights: { blue: r.blue_weight, green: r.green_weight },
  lastKnownGood: r.last_known_good,
  updatedAt: r.updated_at,
});

function checkEnv(env: string): EnvironmentName {
  if (!(ENVIRONMENTS as readonly string[]).includes(env)) throw new RangeError(`invalid environment ${JSON.stringify(env)}: expected blue or green`);
  return env as EnvironmentName;
}

function checkWeight(w: number): number {
  if (!Number.isInteger(w) || w < 0 || w > 256) throw new RangeError(`invalid weight ${w}: expected an integer 0..256`);
  return w;
}

export class PgEnvironmentStateStore implements EnvironmentStateStore {
  constructor(private readonly pool: Pool) {}

  async ensure(team: string, initialActive: EnvironmentName): Promise<TeamEnvironmentState> {
    checkTeam(team);
    checkEnv(initialActive);
    // Absent rows only: a restarted sidecar must not reset a switched team to the teams file's side.
    await this.pool.query(
      `WITH t AS (
         INSERT INTO team_environment (team_name, active_environment, previous_environment, last_known_good)
         VALUES ($1::text, $2::text, NULL, $2::text) ON CONFLICT (team_name) DO NOTHING)
       INSERT INTO environment_state (team_name, environment, status, desired_weight)
       SELECT $1::text, e, 'unknown', CASE WHEN e = $2::text THEN 100 ELSE 0 END FROM unnest(ARRAY['blue', 'green']) AS e
       ON CONFLICT (team_name, environment) DO NOTHING`,
      [team, initialActive],
    );
    const s = await this.get(team);
    if (!s) throw new Error(`environment state for team ${team} missing right after ensure()`);
    return s;
  }

  async get(team: string): Promise<TeamEnvironmentState | null> {
    const r = await this.pool.query<Row>(`${SELECT} WHERE t.team_name = $1::text`, [checkTeam(team)]);
    return r.rows[0] ? toState(r.rows[0]) : null;
  }

  async setDesiredWeights(team: string, weights: { blue: number; green: number }): Promise<void> {
    checkTeam(team);
    const r = await this.pool.query(
      `UPDATE environment_state SET desired_weight = CASE environment WHEN 'blue' THEN $2::int ELSE $3::int END, updated_at = now()
        WHERE team_name = $1::text`,
      [team, checkWeight(weights.blue), checkWeight(weights.green)],
    );
    if (r.rowCount === 0) throw this.notFound(team);
  }

  /**
   * After a completed switch: active=target, previous=old active (unchanged when
   * the target already served), lastKnownGood=target, desired weights all on target.
   */
  async promote(team: string, target: EnvironmentName): Promise<TeamEnvironmentState> {
    checkTeam(team);
    checkEnv(target);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const t = await client.query(
        `UPDATE team_environment
            SET previous_environment = CASE WHEN active_environment <> $2::text THEN active_environment ELSE previous_environment END,
                active_environment = $2::text, last_known_good = $2::text, updated_at = now()
          WHERE team_name = $1::text`,
        [team, target],
      );
      if (t.rowCount === 0) throw this.notFound(team);
      await client.query(
        `UPDATE environment_state SET desired_weight = CASE WHEN environment = $2::text THEN 100 ELSE 0 END, updated_at = now()
          WHERE team_name = $1::text`,
        [team, target],
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    return (await this.get(team)) as TeamEnvironmentState;
  }

  async recordHealth(team: string, env: EnvironmentName, status: string, metadata: Record<string, unknown> = {}): Promise<void> {
    checkTeam(team);
    checkEnv(env);
    if (!/^[a-z_]{1,20}$/.test(status)) throw new RangeError(`invalid environment status ${JSON.stringify(status)}`);
    const r = await this.pool.query(
      `UPDATE environment_state
          SET status = $3::text, last_health_check = now(), updated_at = now(),
              deployment_metadata = COALESCE(deployment_metadata, '{}'::jsonb) || $4::jsonb,
              jenkins_instance = COALESCE($5::text, jenkins_instance)
        WHERE team_name = $1::text AND environment = $2::text`,
      [team, env, status, JSON.stringify(metadata), typeof metadata.instance === 'string' ? metadata.instance : null],
    );
    if (r.rowCount === 0) throw this.notFound(team);
  }

  /** Per-environment detail (status, last health check, metadata) for dashboards. */
  async environments(team: string): Promise<Array<{ environment: EnvironmentName; status: string; lastHealthCheck: Date | null; weight: number; metadata: Record<string, unknown> }>> {
    const r = await this.pool.query<{ environment: EnvironmentName; status: string; last_health_check: Date | null; desired_weight: number; deployment_metadata: Record<string, unknown> | null }>(
      'SELECT environment, status, last_health_check, desired_weight, deployment_metadata FROM environment_state WHERE team_name = $1::text ORDER BY environment',
      [checkTeam(team)],
    );
    return r.rows.map((x) => ({ environment: x.environment, status: x.status, lastHealthCheck: x.last_health_check, weight: x.desired_weight, metadata: x.deployment_metadata ?? {} }));
  }

  async list(): Promise<TeamEnvironmentState[]> {
    const r = await this.pool.query<Row>(`${SELECT} ORDER BY t.team_name`);
    return r.rows.map(toState);
  }

  private notFound(team: string): SidecarError {
    return new SidecarError('NOT_FOUND', `no environment state for team ${team}; is the team in SIDECAR_TEAMS_FILE?`, { team });
  }
}

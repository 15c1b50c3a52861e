import type { Pool, PoolClient } from 'pg';
import { SidecarError } from '../sidecar-error';
import { admit, BreakerPolicy, BreakerRecord, closedBreaker, DEFAULT_BREAKER_POLICY, onFailure, onSuccess, statusOf } from './breaker-logic';
import { BreakerStatus, BreakerStore, Clock } from './contract';
import { checkBreakerName, isoSeconds } from './names';

/**
 * Breakers persisted in circuit_breakers. Each change reads the row FOR UPDATE,
 * applies the pure transition (breaker-logic.ts) with the injected clock and
 * writes it back in the same transaction, so sidecars sharing the database see
 * one breaker and only one of them gets the half-open trial.
 */
interface Row {
  name: string;
  state: BreakerRecord['state'];
  failure_times: Date[];
  opened_at: Date | null;
  retry_at: Date | null;
  trial_started_at: Date | null;
  last_reason: string | null;
}

const toRecord = (r: Row): BreakerRecord => ({
  name: r.name,
  state: r.state,
  failureTimes: r.failure_times,
  openedAt: r.opened_at,
  retryAt: r.retry_at,
  trialStartedAt: r.trial_started_at,
  lastReason: r.last_reason,
});

export interface PgBreakerStatus extends BreakerStatus {
  lastReason: string | null;
}

export class PgBreakerStore implements BreakerStore {
  constructor(
    private readonly pool: Pool,
    private readonly clock: Clock,
    private readonly policyFor: (name: string) => BreakerPolicy = () => DEFAULT_BREAKER_POLICY,
  ) {}

  private async change<T>(name: string, fn: (rec: BreakerRecord, now: Date) => { next: BreakerRecord; out: T }): Promise<T> {
    checkBreakerName(name);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO circuit_breakers (name, state) VALUES ($1::text, 'closed') ON CONFLICT (name) DO NOTHING`, [name]);
      const r = await client.query<Row>('SELECT * FROM circuit_breakers WHERE name = $1::text FOR UPDATE', [name]);
      const { next, out } = fn(toRecord(r.rows[0]), this.clock.now());
      await this.write(client, next);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async write(client: PoolClient, rec: BreakerRecord): Promise<void> {
    await client.query(
      `UPDATE circuit_breakers SET state = $2::text, failure_times = $3::timestamptz[], opened_at = $4::timestamptz,
              retry_at = $5::timestamptz, trial_started_at = $6::timestamptz, last_reason = $7::text, updated_at = now()
        WHERE name = $1::text`,
      [rec.name, rec.state, rec.failureTimes, rec.openedAt, rec.retryAt, rec.trialStartedAt, rec.lastReason],
    );
  }

  async admit(name: string): Promise<{ trial: boolean }> {
    const policy = this.policyFor(name);
    const d = await this.change(name, (rec, now) => {
      const decision = admit(rec, now, policy);
      return { next: decision.next, out: { decision, rec } };
    });
    if (d.decision.admitted) return { trial: d.decision.trial };
    const retry = d.decision.retryAt ? isoSeconds(d.decision.retryAt) : 'later';
    const why =
      d.decision.why === 'open'
        ? `opened at ${d.rec.openedAt ? isoSeconds(d.rec.openedAt) : '?'} after ${d.rec.failureTimes.length} failures (last: ${d.rec.lastReason ?? 'unknown'})`
        : 'its one half-open trial is still in flight';
    throw new SidecarError('BREAKER_OPEN', `circuit breaker ${name} is ${d.rec.state === 'open' ? 'open' : 'half-open'}: ${why}; retry after ${retry} or see \`sidecarctl call breaker.status\``, {
      breaker: name,
      state: d.rec.state,
      retryAt: d.decision.retryAt?.toISOString() ?? null,
      lastReason: d.rec.lastReason,
    });
  }

  async recordSuccess(name: string): Promise<PgBreakerStatus> {
    const policy = this.policyFor(name);
    return this.change(name, (rec, now) => {
      const next = onSuccess(rec, now, policy);
      return { next, out: { ...statusOf(next, now, policy), lastReason: next.lastReason } };
    });
  }

  async recordFailure(name: string, reason: string): Promise<PgBreakerStatus> {
    const policy = this.policyFor(name);
    return this.change(name, (rec, now) => {
      const next = onFailure(rec, now, reason.slice(0, 2000), policy);
      return { next, out: { ...statusOf(next, now, policy), lastReason: next.lastReason } };
    });
  }

  async status(name: string): Promise<PgBreakerStatus> {
    checkBreakerName(name);
    const r = await this.pool.query<Row>('SELECT * FROM circuit_breakers WHERE name = $1::text', [name]);
    const rec = r.rows[0] ? toRecord(r.rows[0]) : closedBreaker(name);
    return { ...statusOf(rec, this.clock.now(), this.policyFor(name)), lastReason: rec.lastReason };
  }

  async list(): Promise<PgBreakerStatus[]> {
    const r = await this.pool.query<Row>('SELECT * FROM circuit_breakers ORDER BY name');
    const now = this.clock.now();
    return r.rows.map((row) => {
      const rec = toRecord(row);
      return { ...statusOf(rec, now, this.policyFor(rec.name)), lastReason: rec.lastReason };
    });
  }
}

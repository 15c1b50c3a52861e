import type { Pool } from 'pg';
import { SidecarError } from '../sidecar-error';
import { Actor, AuditEntry, LockGrant, LockStore, lockNameFor } from './contract';
import { checkOperation, checkTeam, checkText, isoSeconds } from './names';
import { CHANNELS, NotificationHub } from './notification-hub';
import { AUDIT_COLUMNS, auditRow } from './pg-audit';

/**
 * Locks are leases in coordination_locks. Expiry is judged by the DATABASE
 * clock (now()), so skew between sidecar hosts does not matter. Each grant takes
 * a new fencing token from the one sequence; a holder proves it still holds the
 * lock with assertHeld(token) before acting. Waiters sleep on LISTEN (a release
 * NOTIFYs the lock name) and wake at the holder's expiry at the latest; the
 * fallback sleep is capped, so a lost notification costs at most that cap.
 *
 * A request may carry its audit row (`audit`): it is inserted by a data-modifying
 * CTE of the same statement as the lock change, so both commit in one transaction.
 * The RPC dispatcher used to write the row afterwards as its own transaction: a second
 * commit (WAL flush) per call, about as costly as the lock change itself. Batching rows
 * of concurrent calls (group commit) was the other option; it does nothing for a
 * sequential caller (each call still waits for a commit of its own) and PostgreSQL
 * already shares one WAL flush among concurrent committers, whereas riding the lock's
 * own commit removes the extra flush and pool checkout for sequential and concurrent
 * callers alike, and makes "lock changed but audit row lost" impossible.
 */
const MAX_TTL_SEC = 24 * 3600;
const MAX_WAIT_SEC = 3600;
const WAIT_CAP_MS = 5_000;
const WAIT_FLOOR_MS = 20;
/** Bounds the acquire loop independent of time (each turn is one short query). */
const MAX_ATTEMPTS = 10_000;

interface LockRow {
  lock_name: string;
  locked_by: string;
  expires_at: Date;
  fencing_token: string;
  db_now: Date;
}

const toGrant = (r: LockRow): LockGrant => ({
  lockName: r.lock_name,
  token: Number(r.fencing_token),
  expiresAt: r.expires_at,
  holder: r.locked_by,
});

export interface PgLockGrant extends LockGrant {
  /** How long acquire() waited for the lock, in milliseconds. */
  waitedMs?: number;
  /** How many times acquire() tried (1 when the lock was free): waits sleep, they do not spin. */
  attempts?: number;
}

export class PgLockStore implements LockStore {
  constructor(
    private readonly pool: Pool,
    private readonly hub: NotificationHub,
  ) {}

  private async tryAcquire(
    name: string,
    team: string,
    operation: string,
    ttlSec: number,
    owner: string,
    actor: Actor,
    audit: AuditEntry | undefined,
  ): Promise<{ grant?: LockGrant; held?: LockRow }> {
    const meta = { tokenId: actor.tokenId, build: actor.build ?? null, instanceId: actor.instanceId, ttlSec };
    const params: unknown[] = [name, owner, ttlSec, operation, JSON.stringify(meta), team];
    const row = audit ? auditRow(audit, params.length + 1) : undefined;
    // The audit row is selected FROM the upsert's output: inserted only when the lock was won.
    const lockSql = `INSERT INTO coordination_locks AS l
         (lock_name, locked_by, locked_at, expires_at, operation_type, lock_metadata, team_name, fencing_token)
       VALUES ($1::text, $2::text, now(), now() + $3::int * interval '1 second', $4::text, $5::jsonb, $6::text, jsm_next_fencing_token())
       ON CONFLICT (lock_name) DO UPDATE SET
         locked_by = EXCLUDED.locked_by, locked_at = EXCLUDED.locked_at, expires_at = EXCLUDED.expires_at,
         operation_type = EXCLUDED.operation_type, lock_metadata = EXCLUDED.lock_metadata,
         team_name = EXCLUDED.team_name, fencing_token = EXCLUDED.fencing_token
       WHERE l.expires_at <= now()
       RETURNING lock_name, locked_by, expires_at, fencing_token, now() AS db_now`;
    const won = row
      ? await this.pool.query<LockRow>(
          `WITH won AS (${lockSql}),
                audited AS (INSERT INTO deployment_audit (${AUDIT_COLUMNS}) SELECT ${row.values} FROM won)
           SELECT * FROM won`,
          [...params, ...row.params],
        )
      : await this.pool.query<LockRow>(lockSql, params);
    if (won.rows[0]) return { grant: { ...toGrant(won.rows[0]), ...(row ? { auditId: row.id } : {}) } };
    const held = await this.pool.query<LockRow>(
      'SELECT lock_name, locked_by, expires_at, fencing_token, now() AS db_now FROM coordination_locks WHERE lock_name = $1::text',
      [name],
    );
    return { held: held.rows[0] };
  }

  /** `signal` (emergency stop, shutdown, caller gone) ends a wait early with LOCK_HELD. */
  async acquire(req: {
    team: string;
    operation: string;
    ttlSec: number;
    waitSec: number;
    owner: string;
    actor: Actor;
    signal?: AbortSignal;
    audit?: AuditEntry;
  }): Promise<PgLockGrant> {
    const team = checkTeam(req.team);
    const operation = checkOperation(req.operation);
    const owner = checkText('lock owner', req.owner, 255);
    const ttlSec = Math.trunc(req.ttlSec);
    if (!(ttlSec >= 1 && ttlSec <= MAX_TTL_SEC)) throw new RangeError(`ttlSec must be 1..${MAX_TTL_SEC}, got ${req.ttlSec}`);
    const waitSec = Math.max(0, Math.min(MAX_WAIT_SEC, req.waitSec || 0));
    const name = lockNameFor(team, operation);
    const started = Date.now();
    const deadline = started + waitSec * 1000;
    // Subscribe before the first attempt: a release between our failed attempt and
    // the wait must still wake us.
    const waiter = waitSec > 0 ? this.hub.waiter(CHANNELS.lockReleased, name) : null;
    let fallbackMs = 250;
    let lastHeld: LockRow | undefined;
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const r = await this.tryAcquire(name, team, operation, ttlSec, owner, req.actor, req.audit);
        if (r.grant) return { ...r.grant, waitedMs: Date.now() - started, attempts: attempt + 1 };
        if (!r.held) continue; // released between our two queries: try again at once
        lastHeld = r.held;
        const remaining = deadline - Date.now();
        if (!waiter || remaining <= 0 || req.signal?.aborted) break;
        const untilExpiry = r.held.expires_at.getTime() - r.held.db_now.getTime() + WAIT_FLOOR_MS;
        await waiter.wait(Math.min(remaining, Math.max(untilExpiry, WAIT_FLOOR_MS), fallbackMs), req.signal);
        fallbackMs = Math.min(fallbackMs * 2, WAIT_CAP_MS);
      }
    } finally {
      waiter?.cancel();
    }
    const waited = (Date.now() - started) / 1000;
    const holder = lastHeld?.locked_by ?? 'another owner';
    const until = lastHeld ? isoSeconds(lastHeld.expires_at) : 'unknown';
    throw new SidecarError(
      'LOCK_HELD',
      `lock ${operation} for team ${team} is held by ${holder} until ${until}` +
        (waitSec > 0 ? ` (waited ${waited.toFixed(1)}s${req.signal?.aborted ? ', then stopped: the call was aborted' : ''})` : '') +
        '; wait or run `sidecarctl locks` to see it',
      { lockName: name, holder, expiresAt: lastHeld?.expires_at.toISOString() ?? null, token: lastHeld ? Number(lastHeld.fencing_token) : null, waitedSec: waited },
    );
  }

  async renew(req: { team: string; operation: string; token: number; ttlSec: number; audit?: AuditEntry }): Promise<LockGrant> {
    const name = lockNameFor(checkTeam(req.team), checkOperation(req.operation));
    const ttlSec = Math.trunc(req.ttlSec);
    if (!(ttlSec >= 1 && ttlSec <= MAX_TTL_SEC)) throw new RangeError(`ttlSec must be 1..${MAX_TTL_SEC}, got ${req.ttlSec}`);
    const params: unknown[] = [name, req.token, ttlSec];
    const row = req.audit ? auditRow(req.audit, params.length + 1) : undefined;
    const renewSql = `UPDATE coordination_locks SET expires_at = now() + $3::int * interval '1 second'
        WHERE lock_name = $1::text AND fencing_token = $2::bigint AND expires_at > now()
        RETURNING lock_name, locked_by, expires_at, fencing_token, now() AS db_now`;
    // As in tryAcquire: the audit row exists only when the renewal happened.
    const r = row
      ? await this.pool.query<LockRow>(
          `WITH renewed AS (${renewSql}),
                audited AS (INSERT INTO deployment_audit (${AUDIT_COLUMNS}) SELECT ${row.values} FROM renewed)
           SELECT * FROM renewed`,
          [...params, ...row.params],
        )
      : await this.pool.query<LockRow>(renewSql, params);
    if (r.rows[0]) return { ...toGrant(r.rows[0]), ...(row ? { auditId: row.id } : {}) };
    throw await this.fenced(name, req.token);
  }

  async release(req: { team: string; operation: string; token?: number; owner: string; actor: Actor; audit?: AuditEntry }): Promise<{ released: boolean; auditId?: string }> {
    const name = lockNameFor(checkTeam(req.team), checkOperation(req.operation));
    const token = req.token ?? null;
    const params: unknown[] = [name, token, req.owner];
    const row = req.audit ? auditRow(req.audit, params.length + 1) : undefined;
    // The NOTIFY is sent at commit, together with the delete. A data-modifying CTE runs
    // whether or not the main query reads it: the audit row is written even when nothing
    // was released (the call still succeeded and is recorded, as before).
    const r = await this.pool.query(
      `WITH d AS (
         DELETE FROM coordination_locks
          WHERE lock_name = $1::text
            AND (($2::bigint IS NOT NULL AND fencing_token = $2::bigint) OR ($2::bigint IS NULL AND locked_by = $3::text))
          RETURNING lock_name)${row ? `,
       audited AS (INSERT INTO deployment_audit (${AUDIT_COLUMNS}) VALUES (${row.values}))` : ''}
       SELECT pg_notify('${CHANNELS.lockReleased}', lock_name) FROM d`,
      row ? [...params, ...row.params] : params,
    );
    return { released: (r.rowCount ?? 0) > 0, ...(row ? { auditId: row.id } : {}) };
  }

  async assertHeld(req: { team: string; operation: string; token: number }): Promise<LockGrant> {
    const name = lockNameFor(checkTeam(req.team), checkOperation(req.operation));
    const r = await this.pool.query<LockRow>(
      `SELECT lock_name, locked_by, expires_at, fencing_token, now() AS db_now FROM coordination_locks
        WHERE lock_name = $1::text AND fencing_token = $2::bigint AND expires_at > now()`,
      [name, req.token],
    );
    if (r.rows[0]) return toGrant(r.rows[0]);
    throw await this.fenced(name, req.token);
  }

  private async fenced(name: string, token: number): Promise<SidecarError> {
    const cur = await this.pool.query<LockRow & { live: boolean }>(
      'SELECT lock_name, locked_by, expires_at, fencing_token, now() AS db_now, expires_at > now() AS live FROM coordination_locks WHERE lock_name = $1::text',
      [name],
    );
    const row = cur.rows[0];
    const now =
      row && row.live && Number(row.fencing_token) !== token
        ? `it is now held by ${row.locked_by} with token ${row.fencing_token} until ${isoSeconds(row.expires_at)}`
        : row && row.live
          ? 'it is held with that token'
          : 'it has expired or was released';
    return new SidecarError(
      'FENCED',
      `token ${token} no longer holds lock ${name}: ${now}; acquire the lock again before acting`,
      { lockName: name, token, currentToken: row?.live ? Number(row.fencing_token) : null, currentHolder: row?.live ? row.locked_by : null },
    );
  }

  async list(filter: { team?: string } = {}): Promise<LockGrant[]> {
    const team = filter.team === undefined ? null : checkTeam(filter.team);
    const r = await this.pool.query<LockRow>(
      `SELECT lock_name, locked_by, expires_at, fencing_token, now() AS db_now FROM coordination_locks
        WHERE expires_at > now() AND ($1::text IS NULL OR team_name = $1::text) ORDER BY lock_name`,
      [team],
    );
    return r.rows.map(toGrant);
  }
}

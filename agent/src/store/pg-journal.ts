import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { SidecarError } from '../sidecar-error';
import { Actor, JournalStep, OperationJournal, OperationRecord, OperationStatus } from './contract';
import { checkText } from './names';
import { PG_UNIQUE_VIOLATION, pgCode, pgConstraint } from './pg-errors';

/**
 * The operations journal (jenkins_coordination, one row per operation). The
 * row's metadata holds params, phase, steps (intent before, outcome after),
 * result and error. begin() is idempotent on idempotencyKey even under a race
 * (the key row is inserted first; a racing caller blocks on it, then reads the
 * winner's operation) and enforces `exclusive` (at most one running operation
 * per key) with a partial unique index.
 */
interface OperationRow {
  id: string;
  operation_type: string;
  coordinator_instance: string;
  status: OperationStatus;
  started_at: Date;
  completed_at: Date | null;
  metadata: {
    params?: Record<string, unknown>;
    phase?: string;
    steps?: Array<Omit<JournalStep, 'at'> & { at: string }>;
    result?: unknown;
    error?: OperationRecord['error'];
  } | null;
  team_name: string | null;
  initiated_by: string;
  idempotency_key: string | null;
  exclusive_key: string | null;
}

const COLUMNS = 'id, operation_type, coordinator_instance, status, started_at, completed_at, metadata, team_name, initiated_by, idempotency_key, exclusive_key';

export interface PgOperationRecord extends OperationRecord {
  exclusiveKey: string | null;
}

function toRecord(r: OperationRow): PgOperationRecord {
  const m = r.metadata ?? {};
  return {
    id: r.id,
    type: r.operation_type,
    team: r.team_name,
    status: r.status,
    phase: m.phase ?? 'started',
    ownerInstance: r.coordinator_instance,
    initiatedBy: r.initiated_by,
    idempotencyKey: r.idempotency_key,
    params: m.params ?? {},
    result: m.result ?? null,
    error: m.error ?? null,
    startedAt: r.started_at,
    completedAt: r.completed_at,
    steps: (m.steps ?? []).map((s) => ({ ...s, at: new Date(s.at) })),
    exclusiveKey: r.exclusive_key,
  };
}

/** "devops/Infrastructure/Switch#41 (token devops-ci)" or just the token id. */
export const describeActor = (a: Actor): string => (a.build ? `${a.build} (token ${a.tokenId})` : `token ${a.tokenId}`);

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OPERATION_TYPE_PATTERN = /^[a-z][a-zA-Z0-9_.-]{0,49}$/;
const STATUSES: readonly OperationStatus[] = ['running', 'succeeded', 'failed', 'rolled_back', 'aborted'];

export class PgOperationJournal implements OperationJournal {
  constructor(private readonly pool: Pool) {}

  async begin(req: {
    type: string;
    team: string | null;
    params: Record<string, unknown>;
    idempotencyKey?: string;
    actor: Actor;
    /** At most one running operation per key, e.g. `self_management:devops`; else CONFLICT. */
    exclusive?: string;
    /** Given when the operation already ran while the database was unreachable (its owed row). */
    id?: string;
    startedAt?: Date;
  }): Promise<{ operation: PgOperationRecord; created: boolean }> {
    if (!OPERATION_TYPE_PATTERN.test(req.type)) throw new RangeError(`invalid operation type ${JSON.stringify(req.type)}`);
    const key = req.idempotencyKey === undefined ? null : checkText('idempotency key', req.idempotencyKey, 200);
    const exclusive = req.exclusive === undefined ? null : checkText('exclusive key', req.exclusive, 200);
    if (req.id !== undefined && !UUID_PATTERN.test(req.id)) throw new RangeError(`invalid operation id ${JSON.stringify(req.id)}`);
    const id = req.id ?? randomUUID();
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      if (key) {
        // A concurrent begin() with the same key blocks here until we commit or roll back.
        const k = await client.query(
          'INSERT INTO idempotency_keys (idempotency_key, operation_id, operation_type) VALUES ($1::text, $2::uuid, $3::text) ON CONFLICT (idempotency_key) DO NOTHING RETURNING operation_id',
          [key, id, req.type],
        );
        if (k.rowCount === 0) {
          await client.query('ROLLBACK');
          return { operation: await this.existingForKey(client, key, req.type), created: false };
        }
      }
      const metadata = { params: req.params, phase: 'started', steps: [], result: null, error: null, actor: req.actor };
      let row: OperationRow;
      try {
        const r = await client.query<OperationRow>(
          `INSERT INTO jenkins_coordination
             (id, operation_type, coordinator_instance, status, consensus_nodes, started_at, metadata, team_name, initiated_by, idempotency_key, exclusive_key)
           VALUES ($1::uuid, $2::text, $3::text, 'running', NULL, COALESCE($9::timestamptz, now()), $4::jsonb, $5::text, $6::text, $7::text, $8::text)
           RETURNING ${COLUMNS}`,
          [id, req.type, req.actor.instanceId, JSON.stringify(metadata), req.team, describeActor(req.actor).slice(0, 255), key, exclusive, req.startedAt ?? null],
        );
        row = r.rows[0];
      } catch (err) {
        await client.query('ROLLBACK');
        if (pgCode(err) === PG_UNIQUE_VIOLATION && pgConstraint(err) === 'jenkins_coordination_exclusive_running') {
          throw await this.conflict(exclusive ?? '', req.type, err);
        }
        throw err;
      }
      await client.query('COMMIT');
      return { operation: toRecord(row), created: true };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async existingForKey(client: PoolClient, key: string, type: string): Promise<PgOperationRecord> {
    const r = await client.query<OperationRow>(
      `SELECT ${COLUMNS.split(', ').map((c) => `o.${c}`).join(', ')} FROM idempotency_keys k JOIN jenkins_coordination o ON o.id = k.operation_id WHERE k.idempotency_key = $1::text`,
      [key],
    );
    const existing = r.rows[0];
    if (!existing) throw new SidecarError('CONFLICT', `idempotency key ${key} is being used by an operation that has just been started; retry the call`, { reason: 'idempotency_key_pending', idempotencyKey: key });
    if (existing.operation_type !== type) {
      throw new SidecarError(
        'CONFLICT',
        `idempotency key ${key} already belongs to operation ${existing.id} (${existing.operation_type}), not ${type}; use a new key`,
        { reason: 'idempotency_key_reused', idempotencyKey: key, operationId: existing.id, operationType: existing.operation_type },
      );
    }
    return toRecord(existing);
  }

  private async conflict(exclusive: string, type: string, cause: unknown): Promise<SidecarError> {
    const r = await this.pool.query<OperationRow>(
      `SELECT ${COLUMNS} FROM jenkins_coordination WHERE exclusive_key = $1::text AND status = 'running'`,
      [exclusive],
    );
    const running = r.rows[0];
    const what = running
      ? `operation ${running.id} (${running.operation_type}, started ${running.started_at.toISOString()} by ${running.initiated_by} on ${running.coordinator_instance}) is still running`
      : 'another operation is running';
    return new SidecarError(
      'CONFLICT',
      `cannot start ${type}: ${what} and only one may run at a time for ${exclusive}; wait for it (sidecarctl call operation.attach) or stop it (sidecarctl emergency-stop)`,
      { reason: 'operation_running', exclusive, runningOperationId: running?.id ?? null, runningOperationType: running?.operation_type ?? null },
      { cause },
    );
  }

  async intent(opId: string, name: string, intent: Record<string, unknown>): Promise<number> {
    // The row lock of the UPDATE serialises appends; the new length is the step's seq.
    const r = await this.pool.query<{ seq: number }>(
      `UPDATE jenkins_coordination
          SET metadata = jsonb_set(metadata, '{steps}', COALESCE(metadata->'steps', '[]'::jsonb) ||
                jsonb_build_array(jsonb_build_object('seq', jsonb_array_length(COALESCE(metadata->'steps', '[]'::jsonb)) + 1,
                  'name', $2::text, 'intent', $3::jsonb, 'outcome', 'pending', 'result', NULL, 'at', now())))
        WHERE id = $1::uuid
        RETURNING jsonb_array_length(metadata->'steps') AS seq`,
      [opId, name, JSON.stringify(intent)],
    );
    if (!r.rows[0]) throw this.notFound(opId);
    return r.rows[0].seq;
  }

  async outcome(opId: string, seq: number, outcome: 'done' | 'failed', result: Record<string, unknown> = {}): Promise<void> {
    const r = await this.pool.query(
      `UPDATE jenkins_coordination
          SET metadata = jsonb_set(metadata, ARRAY['steps', ($2::int - 1)::text],
                (metadata->'steps'->($2::int - 1)) || jsonb_build_object('outcome', $3::text, 'result', $4::jsonb, 'doneAt', now()))
        WHERE id = $1::uuid AND $2::int BETWEEN 1 AND jsonb_array_length(metadata->'steps')`,
      [opId, seq, outcome, JSON.stringify(result)],
    );
    if (r.rowCount === 0) throw new SidecarError('NOT_FOUND', `operation ${opId} has no step ${seq}`, { operationId: opId, seq });
  }

  async phase(opId: string, phase: string, detail: Record<string, unknown> = {}): Promise<void> {
    const r = await this.pool.query(
      `UPDATE jenkins_coordination SET metadata = metadata || jsonb_build_object('phase', $2::text, 'phaseDetail', $3::jsonb) WHERE id = $1::uuid`,
      [opId, phase, JSON.stringify(detail)],
    );
    if (r.rowCount === 0) throw this.notFound(opId);
  }

  async finish(opId: string, status: Exclude<OperationStatus, 'running'>, result: unknown = null, error: OperationRecord['error'] = null): Promise<void> {
    if (!STATUSES.includes(status) || status === ('running' as OperationStatus)) throw new RangeError(`invalid final status ${status}`);
    // Only a running operation finishes; finishing twice keeps the first outcome.
    const r = await this.pool.query(
      `UPDATE jenkins_coordination
          SET status = $2::text, completed_at = now(),
              metadata = metadata || jsonb_build_object('phase', $2::text, 'result', $3::jsonb, 'error', $4::jsonb)
        WHERE id = $1::uuid AND status = 'running'`,
      [opId, status, JSON.stringify(result ?? null), JSON.stringify(error ?? null)],
    );
    if (r.rowCount === 0 && !(await this.get(opId))) throw this.notFound(opId);
  }

  async get(opId: string): Promise<PgOperationRecord | null> {
    if (!/^[0-9a-f-]{36}$/i.test(opId)) return null;
    const r = await this.pool.query<OperationRow>(`SELECT ${COLUMNS} FROM jenkins_coordination WHERE id = $1::uuid`, [opId]);
    return r.rows[0] ? toRecord(r.rows[0]) : null;
  }

  async unfinished(instanceId: string): Promise<PgOperationRecord[]> {
    const r = await this.pool.query<OperationRow>(
      `SELECT ${COLUMNS} FROM jenkins_coordination WHERE status = 'running' AND coordinator_instance = $1::text ORDER BY started_at`,
      [instanceId],
    );
    return r.rows.map(toRecord);
  }

  /** Running operations (any instance) started more than `olderThanSec` ago by the database clock (the operation timeout: 45m). */
  async runningOlderThan(olderThanSec: number): Promise<PgOperationRecord[]> {
    const r = await this.pool.query<OperationRow>(
      `SELECT ${COLUMNS} FROM jenkins_coordination WHERE status = 'running' AND started_at < now() - $1::int * interval '1 second' ORDER BY started_at`,
      [Math.max(0, Math.trunc(olderThanSec))],
    );
    return r.rows.map(toRecord);
  }

  /**
   * Running operations whose owning sidecar has not heartbeated within `liveWithinSec`
   * (it died or is cut off): candidates for another sidecar to adopt() and finish.
   */
  async orphaned(liveWithinSec: number): Promise<PgOperationRecord[]> {
    const r = await this.pool.query<OperationRow>(
      `SELECT ${COLUMNS} FROM jenkins_coordination o
        WHERE o.status = 'running'
          AND NOT EXISTS (SELECT 1 FROM participants p WHERE p.instance_id = o.coordinator_instance
                            AND p.last_heartbeat > now() - $1::double precision * interval '1 second')
        ORDER BY o.started_at`,
      [Math.max(0, liveWithinSec)],
    );
    return r.rows.map(toRecord);
  }

  /**
   * Moves a running operation from `fromInstance` to `toInstance`, only if it is still
   * running and still owned by `fromInstance` (two adopters race: one wins). The
   * move is journaled in metadata.adoptions. Returns the record, or null if lost.
   */
  async adopt(opId: string, fromInstance: string, toInstance: string): Promise<PgOperationRecord | null> {
    const r = await this.pool.query<OperationRow>(
      `UPDATE jenkins_coordination
          SET coordinator_instance = $3::text,
              metadata = jsonb_set(metadata, '{adoptions}', COALESCE(metadata->'adoptions', '[]'::jsonb) ||
                           jsonb_build_array(jsonb_build_object('from', $2::text, 'to', $3::text, 'at', now())))
        WHERE id = $1::uuid AND status = 'running' AND coordinator_instance = $2::text
        RETURNING ${COLUMNS}`,
      [opId, fromInstance, toInstance],
    );
    return r.rows[0] ? toRecord(r.rows[0]) : null;
  }

  /** Forgets idempotency keys older than `olderThanSec` (their operations stay in the journal). */
  async pruneIdempotencyKeys(olderThanSec: number): Promise<number> {
    const r = await this.pool.query(`DELETE FROM idempotency_keys WHERE created_at < now() - $1::int * interval '1 second'`, [Math.max(0, Math.trunc(olderThanSec))]);
    return r.rowCount ?? 0;
  }

  async list(filter: { team?: string; status?: OperationStatus; limit?: number } = {}): Promise<PgOperationRecord[]> {
    const limit = Math.max(1, Math.min(1000, Math.trunc(filter.limit ?? 100)));
    const r = await this.pool.query<OperationRow>(
      `SELECT ${COLUMNS} FROM jenkins_coordination
        WHERE ($1::text IS NULL OR team_name = $1::text) AND ($2::text IS NULL OR status = $2::text)
        ORDER BY started_at DESC LIMIT $3::int`,
      [filter.team ?? null, filter.status ?? null, limit],
    );
    return r.rows.map(toRecord);
  }

  private notFound(opId: string): SidecarError {
    return new SidecarError('NOT_FOUND', `operation ${opId} does not exist; list operations with \`sidecarctl status\``, { operationId: opId });
  }
}

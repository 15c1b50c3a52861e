import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { AuditEntry, AuditLog } from './contract';

/**
 * deployment_audit: who (token id, Jenkins build, sidecar instance), what, when
 * and how it ended. Pass `actor` so the who-columns are filled; initiatedBy is
 * the human-readable summary.
 */
interface Row {
  id: string;
  operation_type: string;
  team_name: string | null;
  source_environment: string | null;
  target_environment: string | null;
  initiated_by: string | null;
  started_at: Date;
  completed_at: Date | null;
  status: string;
  rollback_reason: string | null;
  audit_metadata: Record<string, unknown> | null;
  token_id: string | null;
  build: string | null;
  instance_id: string | null;
  operation_id: string | null;
}

const toEntry = (r: Row): AuditEntry => ({
  id: r.id,
  operationType: r.operation_type,
  team: r.team_name,
  sourceEnvironment: r.source_environment,
  targetEnvironment: r.target_environment,
  initiatedBy: r.initiated_by ?? '',
  status: r.status,
  rollbackReason: r.rollback_reason,
  metadata: r.audit_metadata ?? {},
  startedAt: r.started_at,
  completedAt: r.completed_at,
  actor: r.token_id ? { tokenId: r.token_id, build: r.build ?? undefined, instanceId: r.instance_id ?? '' } : undefined,
  operationId: r.operation_id,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The columns of one deployment_audit row, in the order auditRow() gives their values. */
export const AUDIT_COLUMNS =
  'id, operation_type, team_name, source_environment, target_environment, initiated_by, started_at, completed_at, ' +
  'status, rollback_reason, audit_metadata, token_id, build, instance_id, operation_id';

/**
 * One audit row as parameter placeholders starting at `$first` plus their values, so a
 * store statement can insert it beside its own change (pg-locks.ts: the lock change and
 * its audit row commit together). Every value is a parameter; nothing is spliced in.
 */
export function auditRow(e: AuditEntry, first: number): { id: string; values: string; params: unknown[] } {
  // An id chosen by the caller (a record owed during an outage) makes writing it twice harmless.
  const id = e.id && UUID.test(e.id) ? e.id : randomUUID();
  const p = (n: number): string => `$${first + n - 1}`;
  const values =
    `${p(1)}::uuid, ${p(2)}::text, ${p(3)}::text, ${p(4)}::text, ${p(5)}::text, ${p(6)}::text, COALESCE(${p(7)}::timestamptz, now()), ` +
    `CASE WHEN ${p(8)}::boolean THEN COALESCE(${p(9)}::timestamptz, now()) ELSE ${p(9)}::timestamptz END, ` +
    `${p(10)}::text, ${p(11)}::text, ${p(12)}::jsonb, ${p(13)}::text, ${p(14)}::text, ${p(15)}::text, ${p(16)}::uuid`;
  const params = [
    id,
    e.operationType.slice(0, 50),
    e.team,
    e.sourceEnvironment ?? null,
    e.targetEnvironment ?? null,
    e.initiatedBy.slice(0, 255),
    e.startedAt ?? null,
    // completedAt omitted: the entry records something that has ended now; null: still running.
    e.completedAt === undefined,
    e.completedAt ?? null,
    e.status.slice(0, 20),
    e.rollbackReason ?? null,
    JSON.stringify(e.metadata ?? {}),
    e.actor?.tokenId ?? null,
    e.actor?.build ?? null,
    e.actor?.instanceId ?? null,
    e.operationId ?? null,
  ];
  return { id, values, params };
}

export class PgAuditLog implements AuditLog {
  constructor(private readonly pool: Pool) {}

  async record(e: AuditEntry): Promise<string> {
    const row = auditRow(e, 1);
    await this.pool.query(`INSERT INTO deployment_audit (${AUDIT_COLUMNS}) VALUES (${row.values}) ON CONFLICT (id) DO NOTHING`, row.params);
    return row.id;
  }

  async list(filter: { team?: string; operationType?: string; limit?: number; since?: Date } = {}): Promise<AuditEntry[]> {
    const limit = Math.max(1, Math.min(1000, Math.trunc(filter.limit ?? 100)));
    const r = await this.pool.query<Row>(
      `SELECT * FROM deployment_audit
        WHERE ($1::text IS NULL OR team_name = $1::text) AND ($2::text IS NULL OR operation_type = $2::text)
          AND ($3::timestamptz IS NULL OR started_at >= $3::timestamptz)
        ORDER BY started_at DESC, id LIMIT $4::int`,
      [filter.team ?? null, filter.operationType ?? null, filter.since ?? null, limit],
    );
    return r.rows.map(toEntry);
  }
}

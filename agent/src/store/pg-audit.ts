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

export class PgAuditLog implements AuditLog {
  constructor(private readonly pool: Pool) {}

  async record(e: AuditEntry): Promise<string> {
    const id = randomUUID();
    await this.pool.query(
      `INSERT INTO deployment_audit
         (id, operation_type, team_name, source_environment, target_environment, initiated_by, started_at, completed_at,
          status, rollback_reason, audit_metadata, token_id, build, instance_id, operation_id)
       VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, COALESCE($7::timestamptz, now()),
               CASE WHEN $8::boolean THEN COALESCE($9::timestamptz, now()) ELSE $9::timestamptz END,
               $10::text, $11::text, $12::jsonb, $13::text, $14::text, $15::text, $16::uuid)`,
      [
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
      ],
    );
    return id;
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

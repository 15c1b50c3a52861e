import { SidecarError } from '../../../sidecar-error';
import type { AuditEntry } from '../../../store/contract';
import { JOURNAL_STEP } from '../../journal-steps';
import type { Breach, WindowFigures } from '../../sli';
import { splitWeights } from '../../team-backends';
import type { SwitchRun } from '../switch-run';
import { breakerNameFor } from '../types';

export interface RollbackCause {
  reason: string;
  /** The breaches that decided (null: not the target's SLIs). */
  found: Breach[] | null;
  percent: number | null;
  figures?: WindowFigures;
  /** CONFLICT: a person aborted it. */
  code?: 'SLI_BREACH' | 'TIMEOUT' | 'DEPENDENCY_DOWN' | 'CONFLICT';
  /** When the deciding sample was read (ms since epoch); default now. */
  detectedAt?: number;
}

/** All traffic back on the source at once, then the record. Always throws (rolled back is terminal). */
export async function rollBack(run: SwitchRun, cause: RollbackCause): Promise<never> {
  const { ctx, team, source, target } = run;
  const code = cause.code ?? 'SLI_BREACH';
  const detectedAt = cause.detectedAt ?? ctx.clock.now().getTime();
  run.enter('rolling-back');
  const weights = splitWeights(source, 100);
  // Back toward the last known good side: safe without Postgres (weights.ts).
  await run.move(weights, { name: JOURNAL_STEP.rollback, reason: cause.reason, step: cause.percent }, source === run.setup.state.lastKnownGood);
  run.rolledBack = true;
  run.enter('rolled-back');
  const rolledBackAt = ctx.clock.now().getTime();
  const rollbackMs = rolledBackAt - detectedAt;
  const owedNote = run.rollbackDeferred ? `; Postgres is unreachable (${run.rollbackDeferred}): the records are written when it answers again` : '';
  if (run.rollbackDeferred) run.deps.log.warn('rolled back without Postgres; records owed', { team, operationId: run.opId, error: run.rollbackDeferred });
  ctx.progress({
    phase: 'rolled-back',
    message: `rolled back: all ${team} traffic on ${source}, signed-in people on ${target} included (${cause.reason})${owedNote}`,
    weights,
    figures: cause.figures ?? null,
    recordsDeferred: run.rollbackDeferred !== null,
    responseMs: rollbackMs,
  });
  // The hooks run before the record, so that what they report (what stayed behind on the target) is in it.
  await run.hooks.rolledBack(run, cause.reason);
  await recordRollback(run, cause, code);
  const figures = cause.figures ?? null;
  const stayedBehind = run.report.stayedBehind;
  throw SidecarError.withCode(code, `switch of ${team} to ${target} rolled back, all traffic is on ${source}: ${cause.reason}${owedNote}`, {
    ...(code === 'CONFLICT' ? { reason: 'aborted' } : {}),
    team,
    active: source,
    step: cause.percent,
    breaches: cause.found ?? [],
    figures,
    errorRate: figures?.errorRate ?? null,
    responseTimeMs: figures?.responseTimeMs ?? null,
    /** From the sample that decided to the weights applied in HAProxy. */
    rollbackMs,
    detectedAt: new Date(detectedAt).toISOString(),
    rolledBackAt: new Date(rolledBackAt).toISOString(),
    steps: run.steps,
    ...(stayedBehind !== undefined ? { stayedBehind } : {}),
  }, { outcome: 'rolled_back' });
}

/** The breaker's failure (a breach counts against the target) and the audit record, owed when Postgres is away. */
async function recordRollback(run: SwitchRun, cause: RollbackCause, code: NonNullable<RollbackCause['code']>): Promise<void> {
  const { deps, ctx, team } = run;
  if (cause.found || code === 'SLI_BREACH') await deps.store.breakers.recordFailure(breakerNameFor(team), cause.reason).catch(() => undefined);
  const entry: AuditEntry = {
    operationType: 'traffic.switch',
    team,
    sourceEnvironment: run.source,
    targetEnvironment: run.target,
    initiatedBy: run.initiatedBy,
    status: 'rolled_back',
    rollbackReason: cause.reason,
    metadata: { step: cause.percent, breaches: cause.found ?? [], figures: cause.figures ?? null, steps: run.steps, recordsDeferred: run.rollbackDeferred !== null, ...(run.report.stayedBehind !== undefined ? { stayedBehind: run.report.stayedBehind } : {}) },
    actor: ctx.actor,
    operationId: run.opId,
    completedAt: ctx.clock.now(),
  };
  if (run.rollbackDeferred && deps.deferred.canOwe) {
    // Written with the other owed records, in order, once the database answers (its id fixed now: one row however often it is retried).
    deps.deferred.audit(team, entry);
  } else {
    await deps.store.audit.record(entry).catch((e: unknown) => deps.log.warn('could not write the audit record of a rollback', { team, operationId: run.opId, error: String(e) }));
  }
  deps.webhooks.notify(team, 'rolled-back', { operationId: run.opId, reason: cause.reason, figures: cause.figures ?? null }).catch(() => undefined);
}

import { LeftForRecovery } from '../../../operations/left-for-recovery';
import { isSidecarError, SidecarError } from '../../../sidecar-error';
import { isDatabaseUnreachable } from '../../../store/pg-unreachable';
import type { SwitchRun } from '../switch-run';
import { Aborted, Halted } from '../types';
import { rollBack } from './roll-back';

/**
 * The error a switch ends with, after bringing traffic to a safe place: halted from outside
 * (weights untouched, audited), an error before anything moved, a rollback already done, or
 * anything else mid-switch (HAProxy or Postgres gone, a partition, shutdown): traffic back on
 * the source.
 */
export async function endFailedSwitch(run: SwitchRun, caught: unknown): Promise<unknown> {
  // An emergency stop that fired while the switch waited surfaces as whatever the wait threw.
  const err = !run.rolledBack && !(caught instanceof Halted) && run.haltSignal.aborted ? new Halted(run.haltReason()) : caught;
  if (err instanceof LeftForRecovery) {
    run.ctx.progress({ phase: 'paused', message: err.message, step: run.percent });
    return err;
  }
  if (err instanceof Halted) return halted(run, err);
  if (err instanceof Aborted) return aborted(run, err);
  if (run.rolledBack) return run.owed(err);
  if (!run.moved) {
    run.enter('failed');
    return run.owed(err);
  }
  return rollBackFailedSwitch(run, err);
}

async function halted(run: SwitchRun, err: Halted): Promise<SidecarError> {
  const { deps, ctx, team } = run;
  run.enter('halted');
  await deps.store.audit
    .record({ operationType: 'traffic.switch', team, sourceEnvironment: run.source, targetEnvironment: run.target, initiatedBy: run.initiatedBy, status: 'halted', rollbackReason: err.why, metadata: { steps: run.steps }, actor: ctx.actor, operationId: run.opId, completedAt: ctx.clock.now() })
    .catch(() => undefined);
  return new SidecarError('CONFLICT', `switch of ${team} to ${run.target} was halted: ${err.why}`, { reason: 'halted', steps: run.steps }, { outcome: 'aborted' });
}

/** A person's abort with hold: the weights stay where they are, the operation ends aborted. */
async function aborted(run: SwitchRun, err: Aborted): Promise<SidecarError> {
  const { deps, ctx, team } = run;
  run.enter('aborted');
  const weights = run.lastApplied;
  const why = `aborted by ${err.by}: ${err.why}`;
  await deps.store.audit
    .record({ operationType: 'traffic.switch', team, sourceEnvironment: run.source, targetEnvironment: run.target, initiatedBy: err.by, status: 'aborted', rollbackReason: why, metadata: { steps: run.steps, weights, held: true }, actor: ctx.actor, operationId: run.opId, completedAt: ctx.clock.now() })
    .catch(() => undefined);
  ctx.progress({ phase: 'aborted', message: `switch of ${team} aborted at ${run.percent ?? 0}%, weights held (blue ${weights.blue}, green ${weights.green}): ${why}`, weights });
  return new SidecarError('CONFLICT', `switch of ${team} to ${run.target} was ${why}; the weights stay at blue ${weights.blue} / green ${weights.green}`, { reason: 'aborted', weights, steps: run.steps }, { outcome: 'aborted' });
}

async function rollBackFailedSwitch(run: SwitchRun, err: unknown): Promise<unknown> {
  const { team, source } = run;
  const message = (err as Error).message;
  // Only the database (not an HAProxy socket refusing): the records cannot be written, HAProxy can.
  if (isDatabaseUnreachable(err)) run.databaseDown = message;
  let rbMessage = '';
  try {
    // Not the target's fault: the breaker does not count it.
    await rollBack(run, { reason: `switch failed: ${message}`, found: null, percent: null, code: 'DEPENDENCY_DOWN' });
  } catch (rbErr) {
    rbMessage = (rbErr as Error).message;
    if (!run.rolledBack) {
      run.enter('failed');
      run.deps.log.warn('rollback after a failed switch did not complete; the reconcile loop and recovery finish it', { team, error: String(rbErr) });
    }
  }
  const deferredNote = run.rollbackDeferred ? ` (Postgres unreachable: the journal, the desired weights and this operation's end are written when it answers again; the reconcile loop leaves ${team} alone until then)` : '';
  return run.owed(
    SidecarError.withCode(
      isSidecarError(err) ? err.code : 'DEPENDENCY_DOWN',
      run.rolledBack
        ? `${message}; all ${team} traffic was moved back to ${source}${deferredNote}`
        : `${message}; moving traffic back to ${source} failed too (${rbMessage}): if Postgres took the desired weights (${source} 100) the reconcile loop applies them when HAProxy answers, otherwise a sidecar restart's recovery moves traffic back`,
      { ...(isSidecarError(err) ? err.data : {}), steps: run.steps, recordsDeferred: run.rollbackDeferred !== null },
      { cause: err, outcome: run.rolledBack ? 'rolled_back' : 'failed' },
    ),
  );
}

import type { HaproxyDriver } from '../haproxy/runtime-api';
import type { EnvironmentStateStore, OperationJournal } from '../store/contract';
import type { OwedWrites } from './deferred-writes';
import type { WeightStepName } from './journal-steps';
import { weightChanges, type TeamBackends, type Weights } from './team-backends';

/**
 * The one way an operation moves traffic: journal the intent, record the
 * desired weights in Postgres (the reconcile loop re-applies them after an
 * HAProxy reload), apply them through the Runtime API, journal the outcome.
 * A crash between any two of these leaves a journal that recovery can read.
 *
 * A move TOWARD the last known good side (`towardLastKnownGood`) is always
 * safe, so it does not wait for Postgres: when the journal or the desired
 * weights cannot be written it applies the weights to HAProxy anyway and
 * leaves the owed records to `deferred` (written when the database is back).
 * Moves away from the last known good side still require the journal first.
 */
export interface WeightDeps {
  haproxy: HaproxyDriver;
  journal: OperationJournal;
  environments: EnvironmentStateStore;
  /** Where a move toward the last known good side owes its records when Postgres is away. */
  deferred: OwedWrites;
}

export interface AppliedWeights {
  /** True when HAProxy has the weights but Postgres does not yet (written later by `deferred`). */
  deferred: boolean;
  databaseError?: string;
}

export async function applyWeights(
  deps: WeightDeps,
  opId: string,
  tb: TeamBackends,
  weights: Weights,
  why: { name: WeightStepName; [k: string]: unknown },
  /** Extra admin-state commands applied first in the same breath (emergency: set the target ready). */
  before?: () => Promise<void>,
  /**
   * `databaseDown`: the caller has just seen the database unreachable (the reason). A move toward
   * the last known good side then goes to HAProxy at once and owes all its records, instead of
   * waiting out another answer timeout first (a partitioned host must not sit at split weights).
   */
  opts: { towardLastKnownGood?: boolean; databaseDown?: string } = {},
): Promise<AppliedWeights> {
  const { name, ...detail } = why;
  const intent = { ...detail, weights };
  const deferred = opts.towardLastKnownGood && deps.deferred.canOwe ? deps.deferred : undefined;
  const applyToHaproxy = async (): Promise<void> => {
    if (before) await before();
    await deps.haproxy.setWeights(weightChanges(tb, weights));
  };
  if (deferred && opts.databaseDown) {
    await applyToHaproxy();
    deferred.weights({ team: tb.team, opId, weights, step: { name, intent }, desiredWritten: false, result: { applied: weights, deferred: true, databaseError: opts.databaseDown } });
    return { deferred: true, databaseError: opts.databaseDown };
  }

  let seq: number | null = null;
  try {
    seq = await deps.journal.intent(opId, name, intent);
    await deps.environments.setDesiredWeights(tb.team, weights);
  } catch (dbErr) {
    if (!deferred) {
      if (seq !== null) await deps.journal.outcome(opId, seq, 'failed', { error: (dbErr as Error).message }).catch(() => undefined);
      throw dbErr;
    }
    // Postgres unreachable: HAProxy first, the records when the database is back.
    const databaseError = (dbErr as Error).message;
    await applyToHaproxy();
    deferred.weights({ team: tb.team, opId, weights, step: seq === null ? { name, intent } : { seq }, desiredWritten: false, result: { applied: weights, deferred: true, databaseError } });
    return { deferred: true, databaseError };
  }
  try {
    await applyToHaproxy();
  } catch (err) {
    await deps.journal.outcome(opId, seq, 'failed', { error: (err as Error).message }).catch(() => undefined);
    throw err;
  }
  try {
    await deps.journal.outcome(opId, seq, 'done', { applied: weights });
  } catch (dbErr) {
    if (!deferred) throw dbErr;
    const databaseError = (dbErr as Error).message;
    deferred.weights({ team: tb.team, opId, weights, step: { seq }, desiredWritten: true, result: { applied: weights, deferred: true, databaseError } });
    return { deferred: true, databaseError };
  }
  return { deferred: false };
}

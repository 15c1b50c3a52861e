import type { HaproxyDriver } from '../haproxy/runtime-api';
import type { EnvironmentStateStore, OperationJournal } from '../store/contract';
import { weightChanges, type TeamBackends, type Weights } from './team-backends';

/**
 * The one way an operation moves traffic: journal the intent, record the
 * desired weights in Postgres (the reconcile loop re-applies them after an
 * HAProxy reload), apply them through the Runtime API, journal the outcome.
 * A crash between any two of these leaves a journal that recovery can read.
 */
export interface WeightDeps {
  haproxy: HaproxyDriver;
  journal: OperationJournal;
  environments: EnvironmentStateStore;
}

export async function applyWeights(
  deps: WeightDeps,
  opId: string,
  tb: TeamBackends,
  weights: Weights,
  why: { name: string; [k: string]: unknown },
  /** Extra admin-state commands applied first in the same breath (emergency: set the target ready). */
  before?: () => Promise<void>,
): Promise<void> {
  const { name, ...detail } = why;
  const seq = await deps.journal.intent(opId, name, { ...detail, weights });
  try {
    await deps.environments.setDesiredWeights(tb.team, weights);
    if (before) await before();
    await deps.haproxy.setWeights(weightChanges(tb, weights));
  } catch (err) {
    await deps.journal.outcome(opId, seq, 'failed', { error: (err as Error).message }).catch(() => undefined);
    throw err;
  }
  await deps.journal.outcome(opId, seq, 'done', { applied: weights });
}

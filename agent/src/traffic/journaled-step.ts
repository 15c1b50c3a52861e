import type { OperationJournal } from '../store/contract';
import type { JournalStepName } from './journal-steps';

/** What a journaled step's work reports for its outcome row. */
export interface StepEnd<R> {
  value: R;
  outcome: 'done' | 'failed';
  result: Record<string, unknown>;
}

/**
 * Journals `name`'s intent, runs `work`, journals its outcome. When `work`
 * throws, the intent stays without an outcome: that is how recovery (and a
 * reader of the journal) sees a step the sidecar began and did not finish.
 */
export async function journaledStep<R>(
  journal: Pick<OperationJournal, 'intent' | 'outcome'>,
  opId: string,
  name: JournalStepName,
  detail: Record<string, unknown>,
  work: () => Promise<StepEnd<R>>,
): Promise<R> {
  const seq = await journal.intent(opId, name, detail);
  const end = await work();
  await journal.outcome(opId, seq, end.outcome, end.result);
  return end.value;
}

/** The common case: a step that either completes (`done`, with `result`) or throws. */
export const done = <R>(value: R, result: Record<string, unknown>): StepEnd<R> => ({ value, outcome: 'done', result });

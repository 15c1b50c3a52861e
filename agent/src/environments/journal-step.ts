import type { OperationContext, OperationJournal } from '../store/contract';

export type StepJournal = Pick<OperationJournal, 'intent' | 'outcome'>;

/**
 * Runs one side effect under the journal: intent written before, outcome
 * after (done/failed). Without a journal (pure tests, ad-hoc calls) it just runs.
 */
export async function journaled<T>(
  journal: StepJournal | undefined,
  ctx: OperationContext | undefined,
  name: string,
  intent: Record<string, unknown>,
  fn: () => Promise<T>,
  describe: (value: T) => Record<string, unknown> = () => ({}),
): Promise<T> {
  if (!journal || !ctx) return fn();
  const seq = await journal.intent(ctx.operation.id, name, intent);
  try {
    const value = await fn();
    await journal.outcome(ctx.operation.id, seq, 'done', describe(value));
    return value;
  } catch (err) {
    await journal.outcome(ctx.operation.id, seq, 'failed', { error: (err as Error)?.message ?? String(err) }).catch(() => undefined);
    throw err;
  }
}

export function report(ctx: OperationContext | undefined, phase: string, message: string, extra: Record<string, unknown> = {}): void {
  ctx?.progress({ phase, message, ...extra });
}

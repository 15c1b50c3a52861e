import type { OperationBody, OperationRunner, WithoutJournal } from '../../operations/runner';
import type { CallContext } from '../registry';

/**
 * Runs a call's operation under the journal: idempotency key, progress to the
 * caller, abort on shutdown. `exclusive`: at most one running operation per key
 * (the store answers CONFLICT naming the running one). `withoutJournal`: only
 * for an operation safe to run while the database is unreachable (the runner
 * then owes its records; see WithoutJournal).
 */
export function runJournaled<T>(
  runner: OperationRunner,
  call: CallContext,
  team: string | null,
  params: Record<string, unknown>,
  body: (...args: Parameters<OperationBody>) => Promise<T>,
  exclusive?: string,
  withoutJournal?: WithoutJournal,
): Promise<T> {
  return runner
    .run(
      {
        type: call.method,
        team,
        params,
        ...(call.idempotencyKey ? { idempotencyKey: call.idempotencyKey } : {}),
        actor: call.actor,
        // The audit row of the call names its operation: known from the first progress event
        // (so a failed operation is named too) or from the outcome.
        onProgress: (e) => {
          call.operationId ??= e.operationId;
          call.progress(e);
        },
        signal: call.signal,
        ...(exclusive ? { beginExtras: { exclusive } } : {}),
        ...(withoutJournal ? { withoutJournal } : {}),
      },
      body,
    )
    .then((o) => {
      call.operationId = o.operationId;
      // What the body returned (re-attached by key: what it returned the first time; without the journal: the local body's).
      return o.result as T;
    });
}

import type { OperationBody, OperationRunner } from '../../operations/runner';
import type { CallContext } from '../registry';

/**
 * Runs a call's operation under the journal: idempotency key, progress to the
 * caller, abort on shutdown. `exclusive`: at most one running operation per key
 * (the store answers CONFLICT naming the running one).
 */
export function runJournaled(runner: OperationRunner, call: CallContext, team: string | null, params: Record<string, unknown>, body: OperationBody, exclusive?: string): Promise<unknown> {
  return runner
    .run(
      {
        type: call.method,
        team,
        params,
        ...(call.idempotencyKey ? { idempotencyKey: call.idempotencyKey } : {}),
        actor: call.actor,
        onProgress: (e) => call.progress(e),
        signal: call.signal,
        ...(exclusive ? { beginExtras: { exclusive } } : {}),
      },
      body,
    )
    .then((o) => o.result);
}

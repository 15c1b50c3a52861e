import { Client } from 'pg';

/**
 * A pg Client whose every statement must be answered within a deadline.
 *
 * A silent network partition does not close the socket: a statement sent into
 * it just waits (pg's own `query_timeout` answers the caller but keeps the
 * connection and the statement in its send queue, so the statement may still
 * reach the server and run minutes later, after whatever the caller did next).
 * Here, when no answer comes in time, the connection is RESET (RST, send queue
 * discarded): the statement either ran before the partition or never runs, the
 * caller gets an ETIMEDOUT error that `isDatabaseUnreachable` recognises
 * (DEPENDENCY_DOWN), and the pool drops the connection. This is what lets a
 * switch on a cut-off host notice within seconds and move traffic back to the
 * last known good side, with no late write undoing that afterwards.
 *
 * Store statements are short (waits happen in the process, on LISTEN), so a
 * few seconds without an answer means the database cannot be relied on.
 */
export class DatabaseNoAnswerError extends Error {
  override readonly name = 'DatabaseNoAnswerError';
  readonly code = 'ETIMEDOUT';
  constructor(readonly deadlineMs: number, cause: unknown) {
    super(`PostgreSQL sent no answer within ${deadlineMs / 1000} s (network partition or a stalled server); the connection was reset so the statement cannot run later`, { cause });
  }
}

type Callback = (err: Error | null, res?: unknown) => void;
type QueryFn = (this: Client, config: unknown, values?: unknown, callback?: unknown) => unknown;

/** The Client class to pass as the Pool's `Client` option (`Base`: the class it refines, e.g. sessionTargetClient). */
export function answerDeadlineClient(deadlineMs: number, Base: typeof Client = Client): typeof Client {
  if (!Number.isFinite(deadlineMs) || deadlineMs <= 0) throw new Error(`answer deadline must be a positive number of ms, got ${deadlineMs}`);
  const superQuery = Base.prototype.query as unknown as QueryFn;

  class AnswerDeadlineClient extends Base {
    /** Set when this client reset its own connection: the error everyone hears about it. */
    private noAnswer: DatabaseNoAnswerError | null = null;

    constructor(...args: ConstructorParameters<typeof Client>) {
      super(...args);
      // A connection lost while the client is checked out is reported to its statements
      // (and to the pool when idle); without a listener the 'error' event would kill the process.
      this.on('error', () => undefined);
    }

    override emit(event: string | symbol, ...rest: unknown[]): boolean {
      if (event === 'error' && this.noAnswer) return super.emit(event, this.noAnswer);
      return super.emit(event, ...rest);
    }

    override query(...args: unknown[]): never {
      const [config, values, callback] = args;
      // Query objects (cursors, streams) manage their own lifetime: not wrapped.
      if (config !== null && typeof config === 'object' && typeof (config as { submit?: unknown }).submit === 'function') {
        return superQuery.call(this, config, values, callback) as never;
      }
      const cb = (typeof values === 'function' ? values : callback) as Callback | undefined;
      const vals = typeof values === 'function' ? undefined : values;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        this.noAnswer ??= new DatabaseNoAnswerError(deadlineMs, null);
        resetConnection(this);
      }, deadlineMs);
      const outcome = (err: Error | null): Error | null => (err && timedOut ? (this.noAnswer ?? new DatabaseNoAnswerError(deadlineMs, err)) : err);
      if (cb) {
        return superQuery.call(this, config, vals, (err: Error | null, res?: unknown) => {
          clearTimeout(timer);
          cb(outcome(err), res);
        }) as never;
      }
      return (superQuery.call(this, config, vals) as Promise<unknown>).then(
        (res) => {
          clearTimeout(timer);
          return res;
        },
        (err: Error) => {
          clearTimeout(timer);
          throw outcome(err);
        },
      ) as never;
    }
  }
  return AnswerDeadlineClient;
}

/** RST instead of FIN: unsent bytes (the statement) are discarded, never delivered late. */
function resetConnection(client: Client): void {
  const stream = (client as unknown as { connection?: { stream?: { resetAndDestroy?: () => void; destroy(): void } } }).connection?.stream;
  if (!stream) return;
  try {
    stream.resetAndDestroy?.();
  } catch {
    // not a TCP socket (a unix socket cannot be reset): plain destroy below
  }
  stream.destroy();
}

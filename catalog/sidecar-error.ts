import { type ConflictReason, type ErrorCode, isConflictReason, type OperationOutcome } from './error-codes';

/** CONFLICT always names why (catalog/error-codes.ts CONFLICT_REASONS), in `data.reason`. */
export type ConflictData = Record<string, unknown> & { reason: ConflictReason };

export interface SidecarErrorOptions {
  cause?: unknown;
  /** Set by an operation body whose end is not plain `failed`: the journal records this status. */
  outcome?: OperationOutcome;
}

/**
 * The one error type for domain failures. `message` is written for a person
 * (what happened and what to do); `data` is for programs. It survives
 * serialisation into JSON-RPC (see rpc/) and reads well in a log. An error
 * with an `outcome` also carries it in `data.operationStatus`, the wire field
 * clients read.
 */
export class SidecarError extends Error {
  override readonly name = 'SidecarError';
  readonly data: Record<string, unknown>;
  readonly outcome: OperationOutcome | undefined;
  constructor(code: 'CONFLICT', message: string, data: ConflictData, options?: SidecarErrorOptions);
  constructor(code: Exclude<ErrorCode, 'CONFLICT'>, message: string, data?: Record<string, unknown>, options?: SidecarErrorOptions);
  constructor(
    readonly code: ErrorCode,
    message: string,
    data: Record<string, unknown> = {},
    options: SidecarErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.outcome = options.outcome;
    this.data = options.outcome ? { ...data, operationStatus: options.outcome } : data;
  }

  /** Why a CONFLICT was refused; undefined for other codes. */
  get reason(): ConflictReason | undefined {
    return this.code === 'CONFLICT' && isConflictReason(this.data.reason) ? this.data.reason : undefined;
  }

  /**
   * For a code known only at run time (a failure passed on, a journaled error read back):
   * `data` should carry the original's reason (see reasonOf).
   */
  static withCode(code: ErrorCode, message: string, data: Record<string, unknown>, options?: SidecarErrorOptions): SidecarError {
    return new SidecarError(code as Exclude<ErrorCode, 'CONFLICT'>, message, data, options);
  }

  toJSON(): { code: ErrorCode; message: string; data: Record<string, unknown> } {
    return { code: this.code, message: this.message, data: this.data };
  }
}

export function isSidecarError(err: unknown): err is SidecarError {
  return err instanceof SidecarError;
}

/** `{ reason }` of a CONFLICT, to pass on with the failure; empty for anything else. */
export function reasonOf(err: unknown): { reason?: ConflictReason } {
  const reason = isSidecarError(err) ? err.reason : undefined;
  return reason ? { reason } : {};
}

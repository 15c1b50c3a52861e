import { ErrorCode } from '../../catalog/error-codes';

/**
 * The one error type for domain failures. `message` is written for a person
 * (what happened and what to do); `data` is for programs. It survives
 * serialisation into JSON-RPC (see rpc/) and reads well in a log.
 */
export class SidecarError extends Error {
  override readonly name = 'SidecarError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly data: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toJSON(): { code: ErrorCode; message: string; data: Record<string, unknown> } {
    return { code: this.code, message: this.message, data: this.data };
  }
}

export function isSidecarError(err: unknown): err is SidecarError {
  return err instanceof SidecarError;
}

import type { z } from 'zod';

/**
 * One RPC method as the sidecar serves it and library-gen documents it.
 * The sidecar validates incoming params with `params` (unknown fields are
 * rejected: use z.object(...).strict()). `idempotencyKey` is accepted by every
 * mutating method and is handled by the transport, not listed in `params`.
 * `result` is the answer's shape on the wire (after JSON: times are ISO-8601
 * strings); its `.describe()` texts are the result's documentation, and the
 * sidecar checks every answer against it when SIDECAR_CHECK_RESULTS=1.
 */
export interface MethodSpec<P extends z.ZodObject = z.ZodObject, R extends z.ZodType = z.ZodType> {
  name: string; // <area>.<verb>
  summary: string;
  params: P;
  result: R;
  mutating: boolean;
  /** team: params.team must be one the token may act on; ops: only ops tokens; any: any valid token. */
  scope: 'team' | 'ops' | 'any';
  /** Sends `progress` notifications before the final response. */
  long: boolean;
}

/** Keeps the precise params and result types of one method (the handler's types come from them). */
export const defineMethod = <P extends z.ZodObject, R extends z.ZodType>(spec: MethodSpec<P, R>): MethodSpec<P, R> => spec;

export type MethodParams<S extends MethodSpec> = z.output<S['params']>;
/** What a handler returns: the result schema's input (JSON-shaped). */
export type MethodResult<S extends MethodSpec> = z.input<S['result']>;

import type { z } from 'zod';

/**
 * One RPC method as the sidecar serves it and library-gen documents it.
 * The sidecar validates incoming params with `params` (unknown fields are
 * rejected: use z.object(...).strict()). `idempotencyKey` is accepted by every
 * mutating method and is handled by the transport, not listed in `params`.
 */
export interface MethodSpec {
  name: string; // <area>.<verb>
  summary: string;
  params: z.ZodObject;
  /** Field-by-field description of the result, for docs and rpc.discover. */
  result: Record<string, string>;
  mutating: boolean;
  /** team: params.team must be one the token may act on; ops: only ops tokens; any: any valid token. */
  scope: 'team' | 'ops' | 'any';
  /** Sends `progress` notifications before the final response. */
  long: boolean;
}

export const defineMethod = <S extends MethodSpec>(spec: S): S => spec;

import { CORE_METHODS } from './core';
import { ENVIRONMENT_METHODS } from './environment';
import type { MethodSpec } from './method-spec';
import { TRAFFIC_METHODS } from './traffic';

export type { MethodSpec } from './method-spec';

/** Every RPC method, by name. The single list rpc.discover returns. */
export const METHODS: ReadonlyMap<string, MethodSpec> = new Map(
  [...CORE_METHODS, ...TRAFFIC_METHODS, ...ENVIRONMENT_METHODS].map((m) => [m.name, m]),
);

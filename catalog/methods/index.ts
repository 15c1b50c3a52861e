import { CORE_METHODS } from './core';
import { ENVIRONMENT_METHODS } from './environment';
import type { MethodSpec } from './method-spec';
import { TRAFFIC_METHODS } from './traffic';
import { TRAFFIC_CONTROL_METHODS } from './traffic-control';
import { TRAFFIC_PLAN_METHODS } from './traffic-plan';

export type { MethodSpec } from './method-spec';

/** The methods by area, in the order docs/rpc-contract.md lists them: a new file of methods is one line here. */
export const METHOD_AREAS: readonly { area: string; file: string; about?: string; methods: readonly MethodSpec[] }[] = [
  { area: 'core', file: 'catalog/methods/core.ts', about: 'transport and store', methods: CORE_METHODS },
  { area: 'traffic', file: 'catalog/methods/traffic.ts', methods: TRAFFIC_METHODS },
  { area: 'traffic control', file: 'catalog/methods/traffic-control.ts', about: "a person's say in a running switch", methods: TRAFFIC_CONTROL_METHODS },
  { area: 'traffic plan', file: 'catalog/methods/traffic-plan.ts', about: 'what a switch would do, before anything moves', methods: TRAFFIC_PLAN_METHODS },
  { area: 'environment', file: 'catalog/methods/environment.ts', methods: ENVIRONMENT_METHODS },
];

/** Every RPC method, by name. The single list rpc.discover returns. */
export const METHODS: ReadonlyMap<string, MethodSpec> = new Map(METHOD_AREAS.flatMap((a) => a.methods).map((m) => [m.name, m]));

import type { MethodSpec } from './method-spec';

/** RPC methods of the environment area. */
export const ENVIRONMENT_METHODS: MethodSpec[] = [];

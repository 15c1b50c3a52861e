import type { MethodSpec } from './method-spec';

/** RPC methods of the core area. */
export const CORE_METHODS: MethodSpec[] = [];

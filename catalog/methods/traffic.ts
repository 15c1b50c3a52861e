import type { MethodSpec } from './method-spec';

/** RPC methods of the traffic area. */
export const TRAFFIC_METHODS: MethodSpec[] = [];

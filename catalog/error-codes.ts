/**
 * Domain error codes carried in JSON-RPC `error.data.code`. Part of the contract:
 * acceptance checks and generated Groovy steps match on these strings.
 */
export const ERROR_CODES = [
  'UNAUTHORIZED',
  'FORBIDDEN',
  'LOCK_HELD',
  'FENCED',
  'NOT_LEADER',
  'CONSENSUS_DENIED',
  'BREAKER_OPEN',
  'SLI_BREACH',
  'TIMEOUT',
  'DEPENDENCY_DOWN',
  'CONFLICT',
  'NOT_FOUND',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** JSON-RPC 2.0 protocol-level codes. Domain errors use -32000 with data.code. */
export const RPC_CODES = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  DOMAIN_ERROR: -32000,
} as const;

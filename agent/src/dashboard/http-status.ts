import type { ErrorCode } from '../../../catalog/error-codes';

/**
 * How a domain error code reads as an HTTP status on the dashboard's own
 * routes. The body always carries the symbolic code and the actionable
 * message, so the page can show what to do.
 */
const STATUS: Record<ErrorCode, number> = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LOCK_HELD: 409,
  FENCED: 409,
  NOT_LEADER: 409,
  CONSENSUS_DENIED: 409,
  BREAKER_OPEN: 409,
  SLI_BREACH: 409,
  TIMEOUT: 504,
  DEPENDENCY_DOWN: 503,
};

export const httpStatusFor = (code: ErrorCode): number => STATUS[code] ?? 500;

/**
 * `Authorization: Bearer <token>` → the token, or null. Nothing else is
 * accepted (never a query string). Same token shape as the RPC's check
 * (rpc/token-auth.ts), so a token that works for sidecarctl works here.
 */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  // The scheme is case-insensitive (RFC 7235 section 2.1), as in rpc/token-auth.ts.
  const m = /^Bearer ([\x21-\x7e]{16,512})$/i.exec(header.trim());
  return m ? m[1] : null;
}

import { SidecarError, isSidecarError } from '../sidecar-error';

/**
 * Recognises "the coordination database cannot be reached" among the errors pg
 * throws, so a call made during an outage answers DEPENDENCY_DOWN (retry later)
 * instead of -32603. Anything else (a bad query, a constraint) stays internal:
 * those are bugs, not outages.
 */

/**
 * Socket-level failures: the server is not there, or went away mid-query; and
 * ENOSESSIONTARGET: no host of the list is (still) the writable one, as during a failover (session-target.ts).
 */
const SOCKET_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOSESSIONTARGET']);

/**
 * SQLSTATEs of a server that is shutting down, starting up or refusing sessions:
 * 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now,
 * class 08 connection exceptions, 53300 too_many_connections, and 25006
 * read_only_sql_transaction: a write reached a server that is no longer the primary
 * (demoted after a failover) — the writable one is elsewhere, retry finds it.
 */
const UNAVAILABLE_SQLSTATES: ReadonlySet<string> = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '08007', '53300', '25006']);

/** pg's own messages, which carry no code. */
const UNAVAILABLE_MESSAGES: readonly RegExp[] = [
  /Connection terminated/i,
  /Query read timeout/i, // pg's own query_timeout (the LISTEN connection's probe)
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error and is not queryable/i,
  /Cannot use a pool after calling end on the pool/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
];

/** Walks `cause` and AggregateError's `errors` (Node's happy-eyeballs connect gives one per address), a few levels deep. */
export function isDatabaseUnreachable(err: unknown, depth = 0): boolean {
  if (depth > 4 || !err || typeof err !== 'object') return false;
  // Our own errors say which dependency failed: an HAProxy or Docker socket refusing
  // (ECONNREFUSED in their cause) is not the database.
  if (isSidecarError(err)) return err.code === 'DEPENDENCY_DOWN' && (err.data as { dependency?: unknown } | undefined)?.dependency === 'postgres';
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (SOCKET_CODES.has(e.code) || UNAVAILABLE_SQLSTATES.has(e.code))) return true;
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.some((re) => re.test(e.message as string))) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isDatabaseUnreachable(x, depth + 1))) return true;
  return e.cause !== undefined && isDatabaseUnreachable(e.cause, depth + 1);
}

const reasonOf = (err: unknown): string => {
  const e = err as { code?: unknown; message?: unknown };
  const msg = typeof e?.message === 'string' && e.message ? e.message : String(err);
  return typeof e?.code === 'string' && !msg.includes(e.code) ? `${e.code}: ${msg}` : msg;
};

/** A SidecarError passes through; an outage becomes DEPENDENCY_DOWN; anything else is returned unchanged. */
export function asDependencyDown(err: unknown): unknown {
  if (isSidecarError(err) || !isDatabaseUnreachable(err)) return err;
  return new SidecarError(
    'DEPENDENCY_DOWN',
    `the coordination database (PostgreSQL) is unreachable (${reasonOf(err).slice(0, 200)}); the call did not complete — retry (with the same idempotencyKey) once \`/readyz\` reports postgres reachable`,
    { dependency: 'postgres' },
    { cause: err },
  );
}

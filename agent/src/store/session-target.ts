import { Client } from 'pg';
import type { DatabaseHost, DatabaseUrl, TargetSessionAttrs } from '../config/database-url';

/**
 * Which server of SIDECAR_DATABASE_URL's host list the store talks to, found
 * the way libpq does (hosts in order, the first whose session matches
 * target_session_attrs) and found AGAIN when it stops matching: after a
 * promotion the old primary is gone or a standby, so a new connection to it
 * fails or fails the check, the host is forgotten, and the next connection
 * searches the list. Nothing restarts; calls made while no host matches get
 * DEPENDENCY_DOWN (pg-unreachable.ts), exactly as in any database outage, and
 * the owed-writes path covers a switch caught in the middle.
 *
 * Every NEW connection is checked once (one round trip): a host can change role
 * between the search and the connection. Open connections are not re-checked:
 * a promotion kills the old primary's sessions (it crashed, or Patroni restarts
 * it as a standby), and a write that still reaches a read-only server fails
 * with 25006, which also counts as an outage.
 */
export class NoSessionTargetError extends Error {
  override readonly name = 'NoSessionTargetError';
  /** Recognised by isDatabaseUnreachable: this is an outage, not a bug. */
  readonly code = 'ENOSESSIONTARGET';
  constructor(display: string, attrs: TargetSessionAttrs, why: string[]) {
    super(`no server of ${display} accepts a ${attrs} session (${why.join('; ')})`);
  }
}

const hostPort = (h: DatabaseHost): string => (h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`);

/** null when the session fits `attrs`, else why not (libpq: read-write looks at transaction_read_only, primary at hot standby). */
export async function sessionMismatch(client: Client, attrs: TargetSessionAttrs): Promise<string | null> {
  if (attrs === 'any') return null;
  const r = await client.query<{ standby: boolean; read_only: boolean }>(
    "SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') = 'on' AS read_only",
  );
  const { standby, read_only: readOnly } = r.rows[0]!;
  if (attrs === 'primary' && standby) return 'a standby (in recovery)';
  if (attrs === 'read-write' && readOnly) return standby ? 'a standby (in recovery)' : 'read-only (default_transaction_read_only is on)';
  return null;
}

export class SessionTarget {
  private known: DatabaseHost | null = null;
  private finding: Promise<DatabaseHost> | null = null;

  constructor(
    readonly url: DatabaseUrl,
    private readonly connectTimeoutMs: number,
    private readonly onFound: (host: string) => void = () => undefined,
  ) {}

  get attrs(): TargetSessionAttrs {
    return this.url.targetSessionAttrs;
  }

  /** host:port the store last found, or null while it searches. */
  get current(): string | null {
    if (this.url.hosts.length === 1) return hostPort(this.url.hosts[0]!);
    return this.known ? hostPort(this.known) : null;
  }

  /** The host new connections go to; searches the list (once for all callers) when none is known. */
  async pick(): Promise<DatabaseHost> {
    if (this.url.hosts.length === 1) return this.url.hosts[0]!;
    if (this.known) return this.known;
    this.finding ??= this.search().finally(() => {
      this.finding = null;
    });
    return this.finding;
  }

  /** A connection to `h` failed or did not match: the next connection searches again. */
  forget(h: DatabaseHost): void {
    if (this.known === h) this.known = null;
  }

  private async search(): Promise<DatabaseHost> {
    const why: string[] = [];
    for (const h of this.url.hosts) {
      const c = new Client({
        connectionString: this.url.forHost(h),
        connectionTimeoutMillis: this.connectTimeoutMs,
        query_timeout: this.connectTimeoutMs,
        application_name: 'jsm-find-server',
      });
      c.on('error', () => undefined);
      try {
        await c.connect();
        const mismatch = await sessionMismatch(c, this.attrs);
        if (mismatch === null) {
          this.known = h;
          this.onFound(hostPort(h));
          return h;
        }
        why.push(`${hostPort(h)} is ${mismatch}`);
      } catch (err) {
        why.push(`${hostPort(h)}: ${(err as Error).message || String(err)}`);
      } finally {
        await c.end().catch(() => undefined);
      }
    }
    throw new NoSessionTargetError(this.url.display, this.attrs, why);
  }
}

type ConnectCallback = ((err: Error) => void) | ((err: null, c: Client) => void);

/** A pg Client class (for a Pool or the LISTEN connection) that connects to the target's current host and checks it. */
export function sessionTargetClient(target: SessionTarget, Base: typeof Client = Client): typeof Client {
  class SessionTargetClient extends Base {
    override connect(): Promise<Client>;
    override connect(callback: ConnectCallback): void;
    override connect(callback?: ConnectCallback): Promise<Client> | void {
      const done = this.connectToTarget().then(() => this as Client);
      if (!callback) return done;
      done.then(
        (c) => (callback as (err: null, c: Client) => void)(null, c),
        (err: Error) => (callback as (err: Error) => void)(err),
      );
    }

    private async connectToTarget(): Promise<void> {
      const h = await target.pick();
      // pg reads host and port from these at connect time (pg/lib/client.js _connect).
      const self = this as unknown as { host: string; port: number; connectionParameters: { host: string; port: number } };
      self.host = self.connectionParameters.host = h.host;
      self.port = self.connectionParameters.port = h.port;
      try {
        await super.connect();
        const mismatch = await sessionMismatch(this, target.attrs);
        if (mismatch !== null) {
          await this.end().catch(() => undefined);
          throw new NoSessionTargetError(hostPort(h), target.attrs, [`it is now ${mismatch}`]);
        }
      } catch (err) {
        target.forget(h);
        throw err;
      }
    }
  }
  return SessionTargetClient;
}

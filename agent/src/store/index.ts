import { Pool } from 'pg';
import { parseDatabaseUrl } from '../config/database-url';
import { answerDeadlineClient } from './answer-deadline-client';
import { BreakerPolicy } from './breaker-logic';
import { Clock, Store } from './contract';
import { PgConsensusStore } from './consensus';
import { PgLeadershipStore } from './leadership';
import { migrate } from './migrate';
import { checkInstanceId } from './names';
import { NotificationHub } from './notification-hub';
import { PgParticipantStore } from './participants';
import { PgAuditLog } from './pg-audit';
import { PgBreakerStore } from './pg-breakers';
import { PgEnvironmentStateStore } from './pg-environment-state';
import { PgOperationJournal } from './pg-journal';
import { PgLockStore } from './pg-locks';
import { SessionTarget, sessionTargetClient } from './session-target';

export { migrate, loadMigrations } from './migrate';
export { DEFAULT_BREAKER_POLICY } from './breaker-logic';
export type { BreakerPolicy } from './breaker-logic';
export type { OpenProposal } from './consensus';

export interface PgStoreOptions {
  /** libpq URI; several hosts and target_session_attrs as libpq has them (config/database-url.ts). */
  connectionString: string;
  /** This sidecar (SIDECAR_INSTANCE_ID). */
  instanceId: string;
  /** Time for breaker transitions. Leases and lock expiry always use the database clock. */
  clock?: Clock;
  poolMax?: number;
  /** A participant counts as live (for consensus) when its heartbeat is younger than this. Default 30. */
  liveWithinSec?: number;
  breakerPolicy?: (name: string) => BreakerPolicy;
  /** Problems of the background LISTEN connection (it reconnects by itself). */
  onBackgroundError?: (err: Error) => void;
  /** A statement without an answer this long fails as unreachable and its connection is reset (answer-deadline-client.ts). Default 10 s. */
  answerTimeoutMs?: number;
  /** Told host:port each time the store (re)finds the server of a several-host URL that matches target_session_attrs. */
  onServerFound?: (hostPort: string) => void;
}

/** The concrete store: the Store interface plus the Postgres-only extras other parts may use. */
export interface PgStore extends Store {
  instanceId: string;
  pool: Pool;
  locks: PgLockStore;
  journal: PgOperationJournal;
  environments: PgEnvironmentStateStore;
  breakers: PgBreakerStore;
  audit: PgAuditLog;
  participants: PgParticipantStore;
  leadership: PgLeadershipStore;
  consensus: PgConsensusStore;
  /** Which server of the URL's host list the store uses now (null while it searches). */
  database: { display: string; attrs: string; current(): string | null };
}

const systemClock: Clock = { now: () => new Date() };

/**
 * Connects, runs pending migrations, starts the LISTEN connection and returns
 * the store. Fails with one clear message when the database is unreachable.
 */
export async function createPgStore(opts: PgStoreOptions): Promise<PgStore> {
  const instanceId = checkInstanceId(opts.instanceId);
  const onError = opts.onBackgroundError ?? (() => undefined);
  const answerTimeoutMs = opts.answerTimeoutMs ?? 10_000;
  const url = parseDatabaseUrl(opts.connectionString);
  const connectTimeoutMs = Math.min(10_000, answerTimeoutMs);
  const target = new SessionTarget(url, connectTimeoutMs, opts.onServerFound);
  const TargetClient = sessionTargetClient(target);
  const firstHost = url.forHost(url.hosts[0]!);
  const pool = new Pool({
    connectionString: firstHost, // the host is chosen per connection by the target
    max: opts.poolMax ?? 10,
    application_name: `jsm-sidecar:${instanceId}`.slice(0, 63),
    connectionTimeoutMillis: connectTimeoutMs,
    // A hung or partitioned database must fail calls, not hang them: every store
    // statement is short (waits happen in the process, on LISTEN). The client side
    // resets a connection whose statement got no answer in time, so the statement
    // cannot land late (see answer-deadline-client.ts); the server side bounds itself too.
    Client: answerDeadlineClient(answerTimeoutMs, TargetClient),
    statement_timeout: 30_000,
    idle_in_transaction_session_timeout: 60_000,
    keepAlive: true,
  });
  // An idle client losing its connection emits on the pool; without a listener that kills the process.
  pool.on('error', onError);
  const hub = new NotificationHub((config) => new TargetClient({ ...config, connectionString: firstHost }), onError);
  try {
    await migrate(pool);
    await hub.start();
  } catch (err) {
    await hub.close();
    await pool.end().catch(() => undefined);
    const where = url.display;
    throw new Error(`coordination database ${where}: ${(err as Error).message}`, { cause: err });
  }
  const clock = opts.clock ?? systemClock;
  return {
    instanceId,
    pool,
    locks: new PgLockStore(pool, hub),
    journal: new PgOperationJournal(pool),
    environments: new PgEnvironmentStateStore(pool),
    breakers: new PgBreakerStore(pool, clock, opts.breakerPolicy),
    audit: new PgAuditLog(pool),
    participants: new PgParticipantStore(pool),
    leadership: new PgLeadershipStore(pool),
    consensus: new PgConsensusStore(pool, hub, opts.liveWithinSec ?? 30),
    database: { display: url.display, attrs: url.targetSessionAttrs, current: () => target.current },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      await hub.close();
      await pool.end();
    },
  };
}

import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseDatabaseUrl } from '../config/database-url';
import { firstUnsearchableDir, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../store/embedded-postgres';
import { createPgStore, type PgStore } from '../store';
import { StartupError, type Running, type SidecarContext } from './context';

/** The coordination store, on SIDECAR_DATABASE_URL or on an embedded PostgreSQL in the data dir. */
export interface Database extends Running {
  store: PgStore;
  /** The server for people: host:port/db, no password. */
  display: string;
  embedded: boolean;
}

export async function wireDatabase(ctx: SidecarContext): Promise<Database> {
  const embedded = ctx.config.databaseUrl ? null : await startEmbedded(ctx);
  const url = ctx.config.databaseUrl ?? embedded!.url;
  try {
    const store = await openStore(ctx, url);
    return {
      store,
      display: describeDb(url),
      embedded: embedded !== null,
      async stop() {
        await store.close().catch(() => undefined);
        if (embedded) await embedded.stop();
      },
    };
  } catch (err) {
    await embedded?.stop().catch(() => undefined);
    throw err;
  }
}

async function startEmbedded(ctx: SidecarContext): Promise<EmbeddedPostgresHandle> {
  const { log, dataDir, health } = ctx;
  assertPostgresCanReach(dataDir.postgres);
  let pg: EmbeddedPostgresHandle;
  try {
    pg = await startEmbeddedPostgres({ dataDir: dataDir.postgres, onLog: (l) => log.debug('postgres', { line: l }) });
  } catch (err) {
    throw new StartupError(`embedded PostgreSQL (SIDECAR_DATABASE_URL unset): ${(err as Error)?.message ?? String(err)}`);
  }
  // Without its database the sidecar can do nothing: /healthz (the supervisor's view) says so from then on.
  pg.onUnexpectedExit((why) => {
    log.error('embedded PostgreSQL is gone; restart the sidecar', { reason: why });
    health.fail(why);
  });
  log.info('embedded PostgreSQL started', { dataDir: pg.dataDir, port: pg.port });
  return pg;
}

async function openStore(ctx: SidecarContext, url: string): Promise<PgStore> {
  const { config, clock, log } = ctx;
  try {
    return await createPgStore({
      connectionString: url,
      instanceId: config.instanceId,
      clock,
      liveWithinSec: config.liveWithinSec,
      answerTimeoutMs: config.databaseAnswerTimeoutSec * 1000,
      onBackgroundError: (err) => log.warn('coordination store background connection', { error: err.message }),
      onServerFound: (server) => log.info('coordination database: using the server that matches target_session_attrs', { server }),
    });
  } catch (err) {
    const why = (err as Error)?.message ?? String(err);
    throw new StartupError(
      `cannot use PostgreSQL at ${describeDb(url)}: ${why.replace(/^coordination database \S+: /, '')}; check SIDECAR_DATABASE_URL and that the server is up`,
    );
  }
}

/** As root the embedded PostgreSQL runs as `postgres`: every directory above its data must be searchable by others. */
function assertPostgresCanReach(dir: string): void {
  if (process.getuid?.() !== 0) return;
  const d = firstUnsearchableDir(dirname(dir));
  if (d) {
    throw new StartupError(
      `embedded PostgreSQL: the 'postgres' user cannot reach ${dir} because ${d} is not searchable by others (mode ${(statSync(d).mode & 0o777).toString(8)}); ` +
        `run 'chmod o+x ${d}', choose another SIDECAR_DATA_DIR, or set SIDECAR_DATABASE_URL`,
    );
  }
}

function describeDb(url: string): string {
  try {
    return parseDatabaseUrl(url).display;
  } catch {
    return '(unparseable URL)';
  }
}

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, EmbeddedPostgresHandle } from '../../agent/src/store/embedded-postgres';

/**
 * One real PostgreSQL for the whole integration run; each test file makes its
 * own database with createTestDatabase() (test/support/database.ts).
 * TEST_DATABASE_URL, when set, points at an existing server instead.
 */
declare global {
  var __EMBEDDED_PG__: EmbeddedPostgresHandle | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return;
  const dataDir = mkdtempSync(join(tmpdir(), 'jsm-test-pg-'));
  const handle = await startEmbeddedPostgres({ dataDir });
  globalThis.__EMBEDDED_PG__ = handle;
  process.env.TEST_DATABASE_URL = handle.url;
}

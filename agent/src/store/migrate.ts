import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';

/**
 * Versioned migrations: numbered `NNNNNN_name.sql` files next to this module
 * (the build copies them into build/). Each runs in its own transaction that
 * first takes a transaction-scoped advisory lock and inserts its version row,
 * so two sidecars starting at once serialise: the second waits, then sees the
 * version and skips it. Applied versions are never re-run.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Arbitrary constant: the advisory lock key that serialises migrations of this schema. */
const MIGRATION_LOCK_KEY = 7_319_004_211;

export const MIGRATIONS_DIR = join(__dirname, 'migrations');

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir).filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f));
  const migrations = files
    .map((f) => ({ version: Number(f.slice(0, 6)), name: f.replace(/\.sql$/, ''), sql: readFileSync(join(dir, f), 'utf8') }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations in ${dir}: expected version ${i + 1}, found ${m.name} (numbers must be consecutive from 000001)`);
  });
  return migrations;
}

/** Applies every pending migration; returns the versions this call applied. */
export async function migrate(pool: Pool, migrations: Migration[] = loadMigrations()): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    await client.query('COMMIT');
    for (const m of migrations) {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
        const inserted = await client.query(
          'INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2::text) ON CONFLICT (version) DO NOTHING RETURNING version',
          [m.version, m.name],
        );
        if (inserted.rowCount === 0) {
          await client.query('ROLLBACK');
          continue;
        }
        await client.query(m.sql);
        await client.query('COMMIT');
        applied.push(m.version);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
    }
  } finally {
    client.release();
  }
  return applied;
}

import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What the sidecar keeps under SIDECAR_DATA_DIR, in one place: every part that
 * reads or writes there takes its path from here (the doctor checks the same paths).
 */
export interface DataDirLayout {
  root: string;
  /** The embedded PostgreSQL's data (only without SIDECAR_DATABASE_URL). */
  postgres: string;
  /** flock(2)ed for the life of the process: one sidecar per directory (data-dir-lock.ts). */
  lockFile: string;
  /** The generated ops token when no SIDECAR_TOKENS_FILE is configured (mode 600). */
  opsToken: string;
  /** Configuration backups, one folder per team. */
  backups: string;
  /** The target's pre-copy state saved by state.migrate, so crash recovery can restore it. */
  migrateSnapshots: string;
  /** Writes owed to PostgreSQL after a rollback applied without it; a restart during the outage still writes them. */
  owedWrites: string;
}

export function dataDirLayout(root: string): DataDirLayout {
  return {
    root,
    postgres: join(root, 'postgres'),
    lockFile: join(root, 'sidecar.lock'),
    opsToken: join(root, 'ops-token'),
    backups: join(root, 'backups'),
    migrateSnapshots: join(root, 'migrate-snapshots'),
    owedWrites: join(root, 'owed-writes.jsonl'),
  };
}

/** Creates the directory (0711). As root the embedded PostgreSQL runs as `postgres` and must traverse (not list) it. */
export function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    if (process.getuid?.() === 0) chmodSync(dir, statSync(dir).mode | 0o011);
  } catch (err) {
    throw new Error(`SIDECAR_DATA_DIR ${dir}: cannot create: ${(err as Error).message}`);
  }
}

import { spawnSync } from 'node:child_process';
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dataDirLayout } from './data-dir';

/**
 * One sidecar per SIDECAR_DATA_DIR: an exclusive flock(2) on `<data dir>/sidecar.lock`,
 * held for the life of the process. The kernel drops it when the process ends, however it
 * ends (SIGKILL included), so a lock is never stale and a restart right after a crash finds
 * it free. The embedded PostgreSQL, the owed-writes spool and the generated ops token live in
 * that directory: a second instance there would stop the first one's server and write its
 * spool. Node has no flock, so util-linux `flock(1)` takes it on a descriptor we pass and keep
 * (`flock -n 3`): the lock belongs to the open file description, which outlives that helper.
 * Our descriptors are close-on-exec, so the servers we spawn do not inherit it.
 */
export interface DataDirLock {
  path: string;
  release(): void;
}

export interface LockHolder {
  pid: number;
  instanceId: string;
  listen: string;
  since: string;
}

export class DataDirInUse extends Error {
  override readonly name = 'DataDirInUse';
  constructor(
    readonly dir: string,
    readonly holder: LockHolder | null,
  ) {
    super(
      `SIDECAR_DATA_DIR ${dir} is in use by another jenkins-sidecar (${
        holder ? `pid ${holder.pid}, instance ${holder.instanceId}, listening on ${holder.listen}, since ${holder.since}` : 'it did not say which'
      }); stop that one first or give this one another SIDECAR_DATA_DIR`,
    );
  }
}

const CONFLICT_EXIT = 75;

function readHolder(path: string): LockHolder | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    return typeof v.pid === 'number' ? { pid: v.pid, instanceId: String(v.instanceId ?? '?'), listen: String(v.listen ?? '?'), since: String(v.since ?? '?') } : null;
  } catch {
    return null;
  }
}

/** Takes the lock or throws DataDirInUse (another process holds it) / Error (no flock(1), unreadable dir). */
export function lockDataDir(dir: string, who: { instanceId: string; listen: string }): DataDirLock {
  const path = dataDirLayout(dir).lockFile;
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
  const r = spawnSync('flock', ['--exclusive', '--nonblock', '--conflict-exit-code', String(CONFLICT_EXIT), '3'], {
    stdio: ['ignore', 'ignore', 'pipe', fd],
    timeout: 10_000,
  });
  if (r.status !== 0) {
    closeSync(fd);
    if (r.status === CONFLICT_EXIT) throw new DataDirInUse(dir, readHolder(path));
    const why = r.error ? (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'flock(1) is not installed (Debian package util-linux)' : r.error.message : `flock exited ${r.status}: ${r.stderr?.toString().trim()}`;
    throw new Error(`cannot lock SIDECAR_DATA_DIR ${dir}: ${why}`);
  }
  // Who holds it, for the next instance's one line. Written after the lock is ours.
  const holder: LockHolder = { pid: process.pid, instanceId: who.instanceId, listen: who.listen, since: new Date().toISOString() };
  ftruncateSync(fd, 0);
  writeSync(fd, `${JSON.stringify(holder)}\n`, 0);
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Log } from '../log';

/**
 * The records owed to Postgres, on disk: an append-only JSON-lines file in the
 * sidecar's data dir, so a sidecar restarted during a database outage still
 * writes what it owes (the journal of a rollback, the row and audit record of
 * an emergency stop) once the database answers. Each line is fsynced before
 * the owed write counts as queued: an add, progress of a write done in parts,
 * or done. The file is emptied whenever nothing is owed any more. Mode 0600:
 * audit records name who acted.
 */
export interface SpooledWrite<W> {
  id: number;
  write: W;
  /** Parts already written (e.g. the journal step's seq), merged in order. */
  progress: Record<string, unknown>;
}

type Line<W> = { add: { id: number; write: W } } | { progress: { id: number; [k: string]: unknown } } | { done: number };

export class OwedWritesSpool<W> {
  private nextId = 1;
  private open = 0;

  constructor(
    readonly path: string,
    private readonly log?: Pick<Log, 'warn'>,
  ) {}

  /** What is still owed, in the order it was queued. A torn last line (a crash mid-write) is skipped. */
  load(): Array<SpooledWrite<W>> {
    if (!existsSync(this.path)) return [];
    const pending = new Map<number, SpooledWrite<W>>();
    const lines = readFileSync(this.path, 'utf8').split('\n');
    for (const [i, text] of lines.entries()) {
      if (!text.trim()) continue;
      let line: Line<W>;
      try {
        line = JSON.parse(text) as Line<W>;
      } catch {
        this.log?.warn('skipping an unreadable line of the owed-writes spool', { path: this.path, line: i + 1 });
        continue;
      }
      if ('add' in line) pending.set(line.add.id, { id: line.add.id, write: line.add.write, progress: {} });
      else if ('progress' in line) {
        const { id, ...rest } = line.progress;
        const w = pending.get(id);
        if (w) Object.assign(w.progress, rest);
      } else if ('done' in line) pending.delete(line.done);
      this.nextId = Math.max(this.nextId, ('add' in line ? line.add.id : 'progress' in line ? line.progress.id : line.done) + 1);
    }
    this.open = pending.size;
    if (this.open === 0) this.truncate();
    return [...pending.values()].sort((a, b) => a.id - b.id);
  }

  add(write: W): number {
    const id = this.nextId++;
    this.append({ add: { id, write } });
    this.open += 1;
    return id;
  }

  progress(id: number, parts: Record<string, unknown>): void {
    this.append({ progress: { id, ...parts } });
  }

  done(id: number): void {
    this.append({ done: id });
    this.open = Math.max(0, this.open - 1);
    if (this.open === 0) this.truncate();
  }

  private append(line: Line<W>): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const fd = openSync(this.path, 'a', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(line)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private truncate(): void {
    if (!existsSync(this.path)) return;
    const fd = openSync(this.path, 'w', 0o600);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

import { randomUUID } from 'node:crypto';
import type { EnvironmentName } from '../../../catalog/teams-file';
import type { Actor, AuditEntry, AuditLog, EnvironmentStateStore, OperationJournal, OperationRecord } from '../store/contract';
import type { OwedWritesSpool } from './owed-writes-spool';
import type { Weights } from './team-backends';

/**
 * Records owed to Postgres after a safety move made without it. Moving traffic
 * TOWARD the last known good side is always safe, so when the database is
 * unreachable a rollback applies the weights to HAProxy anyway and queues here
 * what it could not write: the journal step, the desired weights and the
 * operation's end (and, for rollback.emergency run without the journal, the
 * operation's row, the promote and the audit record). Each team's writes run in
 * order with bounded backoff until the database answers. While a team has
 * writes owed, the reconcile loop leaves it alone: the desired weights in
 * Postgres are stale and re-applying them would undo the safety move.
 *
 * Every owed write is plain data, kept in a spool file when one is given
 * (owed-writes-spool.ts), so a sidecar restarted during the outage resumes
 * them (`resume()`). Each write is safe to run again: a row or an audit record
 * carries its id and is looked up / inserted once, a journal step done in parts
 * records its progress, finishing twice keeps the first end.
 */
export interface DeferredWriteDeps {
  journal: Pick<OperationJournal, 'intent' | 'outcome' | 'finish'> & Partial<Pick<OperationJournal, 'begin' | 'get'>>;
  environments: Pick<EnvironmentStateStore, 'setDesiredWeights'> & Partial<Pick<EnvironmentStateStore, 'ensure' | 'promote'>>;
  audit?: Pick<AuditLog, 'record'>;
  /** Where owed writes survive a restart; none: memory only. */
  spool?: OwedWritesSpool<OwedWrite>;
  log?: { info(m: string, meta?: Record<string, unknown>): void; warn(m: string, meta?: Record<string, unknown>): void };
  /** Waits between attempts; tests may pass a faster one. */
  sleep?: (ms: number) => Promise<void>;
  /** Bounds of the retry: first and largest wait, and how many attempts per write. */
  firstDelayMs?: number;
  maxDelayMs?: number;
  maxAttempts?: number;
}

export interface DeferredWeights {
  team: string;
  opId: string;
  weights: Weights;
  /** The journal step: already written (its seq) or still to write (its intent). */
  step: { seq: number } | { name: string; intent: Record<string, unknown> };
  /** False when the desired weights could not be written either. */
  desiredWritten: boolean;
  result: Record<string, unknown>;
}

/** The row of an operation that ran while the journal was unreachable. */
export interface OwedOperationRow {
  id: string;
  type: string;
  params: Record<string, unknown>;
  actor: Actor;
  startedAt: Date;
}

/** One owed write as data (JSON: dates as ISO strings). */
export type OwedWrite =
  | ({ kind: 'weights' } & DeferredWeights)
  | { kind: 'finish'; team: string; opId: string; status: Exclude<OperationRecord['status'], 'running'>; error: OperationRecord['error']; result: unknown }
  | { kind: 'begin'; team: string; operation: Omit<OwedOperationRow, 'startedAt'> & { startedAt: string } }
  | { kind: 'promote'; team: string; target: EnvironmentName; initialActive: EnvironmentName }
  | { kind: 'audit'; team: string; entry: Omit<AuditEntry, 'startedAt' | 'completedAt'> & { id: string; startedAt?: string; completedAt?: string | null } };

interface Task {
  spoolId: number | null;
  write: OwedWrite;
  progress: Record<string, unknown>;
}

const unrefSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** The same value as it will be read back from the spool (Dates become ISO strings). */
const asData = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export function describeOwedWrite(w: OwedWrite): string {
  switch (w.kind) {
    case 'weights':
      return `desired weights ${JSON.stringify(w.weights)} and journal step of operation ${w.opId}`;
    case 'finish':
      return `end (${w.status}) of operation ${w.opId}`;
    case 'begin':
      return `row of operation ${w.operation.id} (${w.operation.type}, run while the journal was unreachable)`;
    case 'promote':
      return `promote of ${w.target} for ${w.team}`;
    case 'audit':
      return `audit record (${w.entry.operationType} ${w.entry.status}) of operation ${w.entry.operationId ?? '-'}`;
  }
}

export class DeferredWrites {
  private readonly queues = new Map<string, Task[]>();
  private readonly draining = new Map<string, Promise<void>>();

  constructor(private readonly deps: DeferredWriteDeps) {}

  /** True while `team` has writes owed to Postgres (the reconcile loop skips it). */
  pending(team: string): boolean {
    return (this.queues.get(team)?.length ?? 0) > 0;
  }

  /** Queues again what a previous run of this sidecar still owed (its spool). Call once, at start. */
  resume(): number {
    const owed = this.deps.spool?.load() ?? [];
    for (const s of owed) this.push({ spoolId: s.id, write: s.write, progress: { ...s.progress } });
    if (owed.length > 0) this.deps.log?.warn('writing records a previous run of this sidecar owed to PostgreSQL', { count: owed.length, teams: [...new Set(owed.map((s) => s.write.team))] });
    return owed.length;
  }

  /** Queues the journal step and desired weights of a move applied to HAProxy without Postgres. */
  weights(w: DeferredWeights): void {
    this.enqueue({ kind: 'weights', ...w });
  }

  /** Queues the operation's end behind the team's owed weights (finishing twice keeps the first end). */
  finish(team: string, opId: string, status: Exclude<OperationRecord['status'], 'running'>, error: OperationRecord['error'], result: unknown = null): void {
    this.enqueue({ kind: 'finish', team, opId, status, error, result });
  }

  /** Queues the row of an operation run while the journal was unreachable (first: the others refer to it). */
  beginOperation(team: string, operation: OwedOperationRow): void {
    this.enqueue({ kind: 'begin', team, operation: { ...operation, startedAt: operation.startedAt.toISOString() } });
  }

  /** Queues `target` becoming the team's active side (re-checked when written). */
  promote(team: string, target: EnvironmentName, initialActive: EnvironmentName): void {
    this.enqueue({ kind: 'promote', team, target, initialActive });
  }

  /** Queues an audit record; it gets its id now, so writing it twice keeps one row. */
  audit(team: string, entry: AuditEntry): void {
    this.enqueue({ kind: 'audit', team, entry: asData({ ...entry, id: entry.id ?? randomUUID() }) as Extract<OwedWrite, { kind: 'audit' }>['entry'] });
  }

  /** Resolves when every queue has drained or given up (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.draining.values()]);
  }

  private enqueue(write: OwedWrite): void {
    const data = asData(write);
    // On disk before it counts as queued: a crash from here on still owes it.
    let spoolId: number | null = null;
    try {
      spoolId = this.deps.spool?.add(data) ?? null;
    } catch (err) {
      this.deps.log?.warn('could not keep an owed write on disk; it is owed in memory only (lost if the sidecar restarts first)', { team: write.team, write: describeOwedWrite(write), error: String(err) });
    }
    this.push({ spoolId, write: data, progress: {} });
  }

  private push(task: Task): void {
    const team = task.write.team;
    const queue = this.queues.get(team) ?? [];
    queue.push(task);
    this.queues.set(team, queue);
    this.startDrain(team);
  }

  private startDrain(team: string): void {
    if (this.draining.has(team)) return;
    const run = this.drain(team).finally(() => {
      this.draining.delete(team);
      // A task queued between the loop's end and here still runs.
      if (this.pending(team)) this.startDrain(team);
    });
    this.draining.set(team, run);
  }

  private noteProgress(task: Task, parts: Record<string, unknown>): void {
    Object.assign(task.progress, parts);
    if (task.spoolId === null) return;
    try {
      this.deps.spool?.progress(task.spoolId, parts);
    } catch (err) {
      this.deps.log?.warn('could not record the progress of an owed write on disk', { write: describeOwedWrite(task.write), error: String(err) });
    }
  }

  /** One owed write; safe to run again after a lost answer or a restart. */
  private async run(task: Task): Promise<void> {
    const { journal, environments, audit } = this.deps;
    const w = task.write;
    const need = <T>(dep: T | undefined, what: string): T => {
      if (dep === undefined) throw new Error(`internal: DeferredWrites was built without ${what}, needed for ${describeOwedWrite(w)}`);
      return dep;
    };
    switch (w.kind) {
      case 'weights': {
        // Desired weights first: they are what the reconcile loop reads once this team is released.
        if (!w.desiredWritten && task.progress.desiredWritten !== true) {
          await environments.setDesiredWeights(w.team, w.weights);
          this.noteProgress(task, { desiredWritten: true });
        }
        let seq = 'seq' in w.step ? w.step.seq : typeof task.progress.seq === 'number' ? task.progress.seq : null;
        if (seq === null && 'name' in w.step) {
          seq = await journal.intent(w.opId, w.step.name, w.step.intent);
          this.noteProgress(task, { seq });
        }
        if (seq !== null) await journal.outcome(w.opId, seq, 'done', w.result);
        return;
      }
      case 'finish':
        await journal.finish(w.opId, w.status, w.result, w.error);
        return;
      case 'begin': {
        const op = w.operation;
        if (await need(journal.get?.bind(journal), 'journal.get')(op.id)) return;
        await need(journal.begin?.bind(journal), 'journal.begin')({ type: op.type, team: w.team, params: op.params, actor: op.actor, id: op.id, startedAt: new Date(op.startedAt) });
        return;
      }
      case 'promote': {
        const now = await need(environments.ensure?.bind(environments), 'environments.ensure')(w.team, w.initialActive);
        if (now.active !== w.target) await need(environments.promote?.bind(environments), 'environments.promote')(w.team, w.target);
        return;
      }
      case 'audit': {
        const e = w.entry;
        await need(audit, 'audit').record({
          ...e,
          ...(e.startedAt !== undefined ? { startedAt: new Date(e.startedAt) } : {}),
          ...(e.completedAt !== undefined ? { completedAt: e.completedAt === null ? null : new Date(e.completedAt) } : {}),
        } as AuditEntry);
        return;
      }
    }
  }

  private async drain(team: string): Promise<void> {
    const sleep = this.deps.sleep ?? unrefSleep;
    const first = this.deps.firstDelayMs ?? 250;
    const max = this.deps.maxDelayMs ?? 5000;
    const maxAttempts = this.deps.maxAttempts ?? 720;
    const queue = this.queues.get(team);
    while (queue && queue.length > 0) {
      const task = queue[0]!;
      const what = describeOwedWrite(task.write);
      let delay = first;
      let lastError = '';
      let done = false;
      for (let attempt = 1; attempt <= maxAttempts && !done; attempt += 1) {
        try {
          await this.run(task);
          done = true;
        } catch (err) {
          const msg = (err as Error).message;
          if (msg !== lastError) this.deps.log?.warn('Postgres still unreachable; retrying a write owed after a safety move', { team, write: what, error: msg });
          lastError = msg;
          await sleep(delay);
          delay = Math.min(max, delay * 2);
        }
      }
      if (done) {
        this.deps.log?.info('wrote a record owed after a safety move', { team, write: what });
        if (task.spoolId !== null) {
          try {
            this.deps.spool?.done(task.spoolId);
          } catch (err) {
            this.deps.log?.warn('could not mark an owed write done on disk; it is written again (harmlessly) at the next start', { write: what, error: String(err) });
          }
        }
      } else {
        // Kept in the spool: the next start tries again.
        this.deps.log?.warn('gave up writing a record owed after a safety move for now; it stays in the spool for the next start, and recovery finishes the operation from the journal', { team, write: what, error: lastError });
      }
      queue.shift();
    }
    if (queue && queue.length === 0 && this.queues.get(team) === queue) this.queues.delete(team);
  }
}

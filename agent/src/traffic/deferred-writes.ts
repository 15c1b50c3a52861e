import { randomUUID } from 'node:crypto';
import type { EnvironmentName } from '../../../catalog/teams-file';
import { sleep } from '../sleep';
import type { Actor, AuditEntry, AuditLog, EnvironmentStateStore, OperationJournal, OperationRecord } from '../store/contract';
import type { OwedWritesSpool } from './owed-writes-spool';
import type { WeightStepName } from './journal-steps';
import type { Weights } from './team-backends';
import type { Log } from '../log';

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
 *
 * After a failover of the database the new primary may lack the last rows the
 * old one had (asynchronous replication): an owed step or end can then name an
 * operation the journal does not know. Such an operation is RE-RECORDED from
 * what this sidecar knew of it when the write was queued (its row as the runner
 * holds it, kept in the spool with the write), with an audit row saying so; when
 * nothing is known of it, the desired weights (what HAProxy was given) are still
 * written and the journal part is dropped, again with an audit row — never
 * retried for an hour against a row that will not come back.
 */
export interface DeferredWriteDeps {
  journal: Pick<OperationJournal, 'intent' | 'outcome' | 'finish'> & Partial<Pick<OperationJournal, 'begin' | 'get'>>;
  environments: Pick<EnvironmentStateStore, 'setDesiredWeights'> & Partial<Pick<EnvironmentStateStore, 'ensure' | 'promote'>>;
  audit?: Pick<AuditLog, 'record'>;
  /** The operation as this sidecar runs it (the runner's record), kept with its owed writes for re-recording. */
  operationOf?: (opId: string) => OwedOperationRow | null;
  /** Where owed writes survive a restart; none: memory only. */
  spool?: OwedWritesSpool<OwedWrite>;
  log?: Pick<Log, 'info' | 'warn'>;
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
  step: { seq: number } | { name: WeightStepName; intent: Record<string, unknown> };
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

type OwedOperationData = Omit<OwedOperationRow, 'startedAt'> & { startedAt: string };

/** One owed write as data (JSON: dates as ISO strings). `operation`: what this sidecar knew of it, to re-record a lost row. */
export type OwedWrite =
  | ({ kind: 'weights'; operation?: OwedOperationData } & DeferredWeights)
  | { kind: 'finish'; team: string; opId: string; status: Exclude<OperationRecord['status'], 'running'>; error: OperationRecord['error']; result: unknown; operation?: OwedOperationData }
  | { kind: 'begin'; team: string; operation: Omit<OwedOperationRow, 'startedAt'> & { startedAt: string } }
  | { kind: 'promote'; team: string; target: EnvironmentName; initialActive: EnvironmentName }
  | { kind: 'audit'; team: string; entry: Omit<AuditEntry, 'startedAt' | 'completedAt'> & { id: string; startedAt?: string; completedAt?: string | null } };

interface Task {
  spoolId: number | null;
  write: OwedWrite;
  progress: Record<string, unknown>;
}

const unrefSleep = (ms: number): Promise<void> => sleep(ms, undefined, { unref: true });

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

/**
 * What a safety move needs of the owed-writes queue. `noOwedWrites` (unconfigured.ts)
 * stands in where none is configured: nothing can be owed there, so a database
 * outage during a move stays the caller's error.
 */
export interface OwedWrites {
  /** False: this sidecar cannot owe writes (a move toward the last known good side then needs Postgres). */
  readonly canOwe: boolean;
  pending(team: string): boolean;
  weights(w: DeferredWeights): void;
  finish(team: string, opId: string, status: Exclude<OperationRecord['status'], 'running'>, error: OperationRecord['error'], result?: unknown): void;
  beginOperation(team: string, operation: OwedOperationRow): void;
  promote(team: string, target: EnvironmentName, initialActive: EnvironmentName): void;
  audit(team: string, entry: AuditEntry): void;
}

export class DeferredWrites implements OwedWrites {
  readonly canOwe = true;
  private readonly queues = new Map<string, Task[]>();
  private readonly draining = new Map<string, Promise<void>>();
  /** Operations whose row this process has written or seen: their later writes need no lookup. */
  private readonly recorded = new Set<string>();

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
    if ((write.kind === 'weights' || write.kind === 'finish') && !write.operation) {
      const op = this.deps.operationOf?.(write.opId);
      if (op) write = { ...write, operation: { ...op, startedAt: op.startedAt.toISOString() } };
    }
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
        if (!(await this.operationKnown(task, w))) return;
        let seq = 'seq' in w.step ? w.step.seq : typeof task.progress.seq === 'number' ? task.progress.seq : null;
        if (seq === null && 'name' in w.step) {
          seq = await journal.intent(w.opId, w.step.name, w.step.intent);
          this.noteProgress(task, { seq });
        }
        if (seq !== null) await journal.outcome(w.opId, seq, 'done', w.result);
        return;
      }
      case 'finish':
        if (!(await this.operationKnown(task, w))) return;
        await journal.finish(w.opId, w.status, w.result, w.error);
        return;
      case 'begin': {
        const op = w.operation;
        if (!(await need(journal.get?.bind(journal), 'journal.get')(op.id))) {
          await need(journal.begin?.bind(journal), 'journal.begin')({ type: op.type, team: w.team, params: op.params, actor: op.actor, id: op.id, startedAt: new Date(op.startedAt) });
        }
        this.recorded.add(op.id);
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

  /**
   * False when the journal does not know the operation and it cannot be re-recorded (the
   * write's journal part is then dropped). Checked once per write; a lost row is
   * re-recorded once (journal.begin with the same id is looked up first).
   */
  private async operationKnown(task: Task, w: Extract<OwedWrite, { kind: 'weights' | 'finish' }>): Promise<boolean> {
    const { journal, audit } = this.deps;
    if (task.progress.known === true || this.recorded.has(w.opId) || !journal.get) return true;
    if (task.progress.known === false) return false;
    if (await journal.get(w.opId)) {
      this.recorded.add(w.opId);
      this.noteProgress(task, { known: true });
      return true;
    }
    const auditId = typeof task.progress.auditId === 'string' ? task.progress.auditId : randomUUID();
    this.noteProgress(task, { auditId });
    const op = w.operation;
    const what = describeOwedWrite(w);
    if (op && journal.begin) {
      await journal.begin({ type: op.type, team: w.team, params: op.params, actor: op.actor, id: op.id, startedAt: new Date(op.startedAt) });
      await audit?.record({
        id: auditId,
        operationType: op.type,
        team: w.team,
        initiatedBy: op.actor.instanceId ?? 'sidecar',
        status: 'rerecorded',
        rollbackReason: null,
        metadata: { why: 'the coordination database did not know this operation (a failover lost its last rows); re-recorded from the sidecar that runs it', write: what },
        actor: op.actor,
        operationId: op.id,
      });
      this.deps.log?.warn('the database did not know an operation this sidecar runs (failover lost its last rows): re-recorded it', { team: w.team, operationId: w.opId, type: op.type });
      this.recorded.add(w.opId);
      this.noteProgress(task, { known: true });
      return true;
    }
    await audit?.record({
      id: auditId,
      operationType: 'owed_write',
      team: w.team,
      initiatedBy: 'sidecar',
      status: 'dropped',
      rollbackReason: null,
      metadata: { why: 'the coordination database does not know this operation and this sidecar kept no record of it to write again', write: what, ...(w.kind === 'weights' ? { desiredWeights: w.weights } : {}) },
      operationId: null,
    });
    this.deps.log?.warn('dropped the journal part of an owed write: the database does not know its operation and nothing is left to re-record it from', { team: w.team, write: what });
    this.noteProgress(task, { known: false });
    return false;
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

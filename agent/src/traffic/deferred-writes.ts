import type { EnvironmentStateStore, OperationJournal, OperationRecord } from '../store/contract';
import type { Weights } from './team-backends';

/**
 * Records owed to Postgres after a safety move made without it. Moving traffic
 * TOWARD the last known good side is always safe, so when the database is
 * unreachable a rollback applies the weights to HAProxy anyway and queues here
 * what it could not write: the journal step, the desired weights and the
 * operation's end (and, for rollback.emergency run without the journal, the
 * operation's row, the promote and the audit record, through `owe`). Each team's writes run in order with bounded backoff until
 * the database answers. While a team has writes owed, the reconcile loop leaves
 * it alone: the desired weights in Postgres are stale and re-applying them
 * would undo the safety move.
 */
export interface DeferredWriteDeps {
  journal: Pick<OperationJournal, 'intent' | 'outcome' | 'finish'>;
  environments: Pick<EnvironmentStateStore, 'setDesiredWeights'>;
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

interface Task {
  what: string;
  run(): Promise<void>;
}

const unrefSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

export class DeferredWrites {
  private readonly queues = new Map<string, Task[]>();
  private readonly draining = new Map<string, Promise<void>>();

  constructor(private readonly deps: DeferredWriteDeps) {}

  /** True while `team` has writes owed to Postgres (the reconcile loop skips it). */
  pending(team: string): boolean {
    return (this.queues.get(team)?.length ?? 0) > 0;
  }

  /** Queues the journal step and desired weights of a move applied to HAProxy without Postgres. */
  weights(w: DeferredWeights): void {
    const { journal, environments } = this.deps;
    let seq = 'seq' in w.step ? w.step.seq : null;
    let desiredWritten = w.desiredWritten;
    this.enqueue(w.team, {
      what: `desired weights ${JSON.stringify(w.weights)} and journal step of operation ${w.opId}`,
      run: async () => {
        // Desired weights first: they are what the reconcile loop reads once this team is released.
        if (!desiredWritten) {
          await environments.setDesiredWeights(w.team, w.weights);
          desiredWritten = true;
        }
        if (seq === null && 'name' in w.step) seq = await journal.intent(w.opId, w.step.name, w.step.intent);
        if (seq !== null) await journal.outcome(w.opId, seq, 'done', w.result);
      },
    });
  }

  /** Queues the operation's end behind the team's owed weights (finishing twice keeps the first end). */
  finish(team: string, opId: string, status: Exclude<OperationRecord['status'], 'running'>, error: OperationRecord['error'], result: unknown = null): void {
    this.enqueue(team, { what: `end (${status}) of operation ${opId}`, run: () => this.deps.journal.finish(opId, status, result, error) });
  }

  /**
   * Queues any other owed write behind the team's earlier ones: the row of an
   * operation run while the journal was unreachable, its promote, its audit
   * record. `write` must be safe to run again (it is retried when the answer
   * was lost), e.g. look before inserting.
   */
  owe(team: string, what: string, write: () => Promise<void>): void {
    this.enqueue(team, { what, run: write });
  }

  /** Resolves when every queue has drained or given up (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.draining.values()]);
  }

  private enqueue(team: string, task: Task): void {
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

  private async drain(team: string): Promise<void> {
    const sleep = this.deps.sleep ?? unrefSleep;
    const first = this.deps.firstDelayMs ?? 250;
    const max = this.deps.maxDelayMs ?? 5000;
    const maxAttempts = this.deps.maxAttempts ?? 720;
    const queue = this.queues.get(team);
    while (queue && queue.length > 0) {
      const task = queue[0]!;
      let delay = first;
      let lastError = '';
      let done = false;
      for (let attempt = 1; attempt <= maxAttempts && !done; attempt += 1) {
        try {
          await task.run();
          done = true;
        } catch (err) {
          const msg = (err as Error).message;
          if (msg !== lastError) this.deps.log?.warn('Postgres still unreachable; retrying a write owed after a safety move', { team, write: task.what, error: msg });
          lastError = msg;
          await sleep(delay);
          delay = Math.min(max, delay * 2);
        }
      }
      if (done) this.deps.log?.info('wrote a record owed after a safety move', { team, write: task.what });
      else this.deps.log?.warn('gave up writing a record owed after a safety move; a sidecar restart recovers the operation from the journal', { team, write: task.what, error: lastError });
      queue.shift();
    }
    if (queue && queue.length === 0 && this.queues.get(team) === queue) this.queues.delete(team);
  }
}

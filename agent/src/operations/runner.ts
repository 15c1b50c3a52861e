import { randomUUID } from 'node:crypto';
import { ERROR_CODES, type ErrorCode, isOperationOutcome } from '../../../catalog/error-codes';
import { LeftForRecovery } from './left-for-recovery';
import { isSidecarError, SidecarError } from '../sidecar-error';
import { sleep } from '../sleep';
import type { Actor, Clock, OperationContext, OperationJournal, OperationRecord, OperationStatus } from '../store/contract';
import { asDependencyDown, isDatabaseUnreachable } from '../store/pg-unreachable';
import { OperationEventBus, type OperationEnd, type ProgressEvent } from './event-bus';
import { silentLog, type Log } from '../log';

/**
 * Runs long operations under the journal. The sidecar, not the caller, owns an
 * operation: a caller that disconnects only stops listening; the body keeps
 * running until it ends or the sidecar shuts down (then its signal aborts and
 * the body brings itself to a safe point).
 *
 * Statuses: a body that returns → `succeeded`; one that throws → `failed`, or the
 * status named by `SidecarError.outcome` (`rolled_back`, `aborted`),
 * or `aborted` when it threw after the runner's signal fired.
 */
export type OperationBody = (ctx: OperationContext) => Promise<unknown>;

export interface RunRequest {
  type: string;
  team: string | null;
  params: Record<string, unknown>;
  idempotencyKey?: string;
  actor: Actor;
  /** Progress to the calling socket (the bus gets every event anyway). */
  onProgress?: (event: ProgressEvent) => void;
  /** The CALLER's signal: when it fires we stop waiting, the operation goes on. */
  signal?: AbortSignal;
  /** Extra fields passed to journal.begin as they are (e.g. the store's `exclusive` key). */
  beginExtras?: Record<string, unknown>;
  /** Only for operations that are safe to run without the journal (see WithoutJournal). */
  withoutJournal?: WithoutJournal;
}

/**
 * An operation that must work exactly when the database does not (the stop
 * button: rollback.emergency). When journal.begin fails because PostgreSQL is
 * unreachable, the runner gives the operation a local id, runs `body` and owes
 * the operation's row and its end through `owe`, which writes them in order
 * (behind whatever the body owes) once the database answers again. There is no
 * idempotency-key dedupe then: the key lives in the journal. Such an operation
 * must be harmless to repeat.
 */
export interface WithoutJournal {
  body: OperationBody;
  /** Run without the journal when it has not answered within this (else only once it fails). */
  beginWithinMs?: number;
  /** Where the operation's row and end are owed (the team's DeferredWrites queue: written in order, kept on disk). */
  records: {
    begin(operation: { id: string; type: string; params: Record<string, unknown>; actor: Actor; startedAt: Date }): void;
    finish(id: string, status: Exclude<OperationStatus, 'running'>, result: unknown, error: OperationRecord['error']): void;
  };
}

export interface RunOutcome {
  operationId: string;
  /** false when the idempotency key matched an existing operation and we attached to it. */
  created: boolean;
  result: unknown;
}

/** The levels the runner, the dispatcher and the transport write at. */
export type RunnerLog = Pick<Log, 'info' | 'warn' | 'error'>;

export interface OperationRunnerDeps {
  journal: OperationJournal;
  clock: Clock;
  bus?: OperationEventBus;
  log?: RunnerLog;
  /** Called once per operation this process ran, after its end is journaled (metrics). */
  onFinished?: (op: { type: string; team: string | null; status: OperationEnd['status']; durationSec: number; error?: OperationEnd['error'] }) => void;
  /** Following an operation of another process: backoff between journal reads. */
  followBackoffMs?: { initial: number; max: number };
  /** How long an attacher follows a foreign operation before giving up with TIMEOUT. */
  followLimitMs?: number;
  /**
   * Where the end of an operation goes when the journal is unreachable as it ends (a database
   * outage or failover mid-operation): the owed writes, written once the database answers, so the
   * row does not stay `running` until the next restart of this sidecar.
   */
  owedFinish?: (team: string, operationId: string, status: OperationEnd['status'], result: unknown, error: OperationEnd['error'] | null) => void;
}

interface Running {
  type: string;
  operation: OperationRecord;
  actor: Actor;
  controller: AbortController;
  done: Promise<void>;
}


export class OperationRunner {
  readonly bus: OperationEventBus;
  private readonly running = new Map<string, Running>();
  private closed = false;
  private readonly log: RunnerLog;

  constructor(private readonly deps: OperationRunnerDeps) {
    this.bus = deps.bus ?? new OperationEventBus();
    this.log = deps.log ?? silentLog;
  }

  inFlight(): number {
    return this.running.size;
  }

  /** The row of an operation this process runs, as it began (to write it again if a database failover lost it). */
  describe(operationId: string): { id: string; type: string; params: Record<string, unknown>; actor: Actor; startedAt: Date } | null {
    const r = this.running.get(operationId);
    return r ? { id: r.operation.id, type: r.operation.type, params: r.operation.params, actor: r.actor, startedAt: r.operation.startedAt } : null;
  }

  /** Begins (or, for a known idempotency key, re-attaches to) an operation and resolves with its result. */
  async run(req: RunRequest, body: OperationBody): Promise<RunOutcome> {
    if (this.closed) {
      throw new SidecarError('DEPENDENCY_DOWN', 'the sidecar is shutting down and starts no new operations; retry against another sidecar or after restart');
    }
    // An operation that is safe without the journal picks its id first: when the database does not
    // answer in time (a partition answers nothing) it runs at once, and a row that lands late has
    // that same id, which the owed row write looks up before inserting.
    const wj = req.withoutJournal;
    const local = wj ? { id: randomUUID(), startedAt: this.deps.clock.now() } : null;
    let begun: { operation: OperationRecord; created: boolean } | null;
    try {
      const beginning = this.deps.journal.begin({
        type: req.type,
        team: req.team,
        params: req.params,
        ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
        actor: req.actor,
        ...(req.beginExtras ?? {}),
        ...(local ?? {}),
      });
      begun = wj?.beginWithinMs ? await answeredWithin(beginning, wj.beginWithinMs) : await beginning;
    } catch (err) {
      if (!wj || !local || !isDatabaseUnreachable(err)) throw err;
      return this.runWithoutJournal(req, wj, err, local);
    }
    if (begun === null) return this.runWithoutJournal(req, wj!, new Error(`the operations journal did not answer within ${wj!.beginWithinMs} ms`), local!);
    const { operation, created } = begun;
    if (!created) {
      if (operation.type !== req.type) {
        throw new SidecarError(
          'CONFLICT',
          `idempotencyKey ${req.idempotencyKey} already belongs to operation ${operation.id} of type ${operation.type}, not ${req.type}; use a new key`,
          { reason: 'idempotency_key_reused', operationId: operation.id, type: operation.type },
        );
      }
      const result = await this.attach(operation.id, req.onProgress, req.signal, operation);
      return { operationId: operation.id, created: false, result };
    }
    // Subscribe before the body runs so no progress event is missed.
    const following = this.follow(operation.id, req.onProgress, req.signal, false);
    this.start(operation, req.actor, body);
    const result = await following;
    return { operationId: operation.id, created: true, result };
  }

  /**
   * Runs `body` in the background under an operation that is already in the journal, still
   * running and owned by this instance (a switch recovery found paused after a restart, or one
   * adopted from a dead sidecar). Its row is finished as a normal run's is, and attach() follows it
   * through the bus while it runs here. Resolves once it runs; the body's end is in the journal.
   */
  continueOwned(operation: OperationRecord, actor: Actor, body: OperationBody): void {
    if (this.closed) throw new SidecarError('DEPENDENCY_DOWN', 'the sidecar is shutting down and continues no operation; recovery picks it up at the next start');
    if (operation.status !== 'running' || operation.ownerInstance !== actor.instanceId) {
      throw new SidecarError('CONFLICT', `operation ${operation.id} is ${operation.status} and owned by ${operation.ownerInstance}: only a running operation of this sidecar (${actor.instanceId}) can be continued`, { reason: 'operation_running', operationId: operation.id });
    }
    if (this.running.has(operation.id)) throw new SidecarError('CONFLICT', `operation ${operation.id} already runs in this process`, { reason: 'operation_running', operationId: operation.id });
    this.start(operation, actor, body);
  }

  /** The journal is unreachable and the operation is safe without it: run it under its local id and owe its row. */
  private async runWithoutJournal(req: RunRequest, wj: WithoutJournal, cause: unknown, local: { id: string; startedAt: Date }): Promise<RunOutcome> {
    const startedAt = local.startedAt;
    const operation: OperationRecord = {
      id: local.id,
      type: req.type,
      team: req.team,
      status: 'running',
      phase: 'started',
      ownerInstance: req.actor.instanceId,
      initiatedBy: req.actor.build ? `${req.actor.build} (token ${req.actor.tokenId})` : `token ${req.actor.tokenId}`,
      idempotencyKey: null,
      params: req.params,
      result: null,
      error: null,
      startedAt,
      completedAt: null,
      steps: [],
    };
    const id = operation.id;
    this.log.warn('operations journal unreachable: running an operation that is safe without it; its records are written when PostgreSQL answers again', {
      operationId: id,
      type: req.type,
      team: req.team,
      actor: req.actor,
      ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
      error: (cause as Error)?.message ?? String(cause),
    });
    // The row first: every other owed write of this operation refers to it.
    wj.records.begin({ id, type: req.type, params: req.params, actor: req.actor, startedAt });
    const following = this.follow(id, req.onProgress, req.signal, false);
    this.start(operation, req.actor, wj.body, wj.records);
    const result = await following;
    return { operationId: id, created: true, result };
  }

  /**
   * Follows an operation until it ends: through the bus when it runs here, through
   * the journal (bounded backoff) when another sidecar runs it; finished ones
   * replay their result or error.
   */
  async attach(operationId: string, onProgress?: (e: ProgressEvent) => void, signal?: AbortSignal, known?: OperationRecord): Promise<unknown> {
    const local = this.running.get(operationId);
    if (local) return this.follow(operationId, onProgress, signal, true);
    const record = known ?? (await this.deps.journal.get(operationId));
    if (!record) throw new SidecarError('NOT_FOUND', `operation ${operationId} does not exist; check the id (sidecarctl call operation.get)`, { operationId });
    if (record.status !== 'running') return replay(record);
    return this.followJournal(record, onProgress, signal);
  }

  /** Fires every running operation's signal (shutdown, emergency stop). */
  abortAll(reason: string): void {
    this.closed = true;
    for (const [id, r] of this.running) {
      this.log.warn('aborting operation', { operationId: id, type: r.type, reason });
      r.controller.abort(new SidecarError('DEPENDENCY_DOWN', `operation aborted: ${reason}`));
    }
  }

  /** Resolves when every running body has returned, or at the deadline; says how many are still running. */
  async drain(timeoutMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => {
      timer = setTimeout(r, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.running.values()].map((r) => r.done)), deadline]);
    clearTimeout(timer);
    return this.running.size;
  }

  /** `owed`: the operation has no row yet (journal unreachable); its end is owed, not written, and phases are not journaled. */
  private start(operation: OperationRecord, actor: Actor, body: OperationBody, owed?: WithoutJournal['records']): void {
    const controller = new AbortController();
    const id = operation.id;
    let lastPhase = operation.phase;
    const ctx: OperationContext = {
      operation,
      actor,
      signal: controller.signal,
      clock: this.deps.clock,
      progress: (event) => {
        const full: ProgressEvent = { ...event, operationId: id };
        this.bus.emit('progress', full);
        // Phase changes reach the journal so attachers in other processes can follow.
        if (!owed && event.phase && event.phase !== lastPhase) {
          lastPhase = event.phase;
          this.deps.journal.phase(id, event.phase, { message: event.message }).catch((err: unknown) => {
            this.log.warn('could not journal phase', { operationId: id, error: String(err) });
          });
        }
      },
    };
    this.bus.emit('started', operation);
    const startedAtMs = Date.now();
    const done = (async () => {
      let end: OperationEnd;
      let leftRunning = false;
      try {
        const result = await body(ctx);
        end = { operationId: id, status: 'succeeded', result: result ?? null };
      } catch (err) {
        end = { operationId: id, status: statusFor(err, controller.signal.aborted), error: errorRecord(err) };
        leftRunning = err instanceof LeftForRecovery && !owed;
        if (!isSidecarError(err)) this.log.error('operation failed unexpectedly', { operationId: id, type: operation.type, error: String((err as Error)?.stack ?? err) });
      }
      try {
        if (leftRunning) this.log.warn("operation left running for the next start's recovery", { operationId: id, type: operation.type, why: end.error?.message });
        else if (owed) owed.finish(id, end.status, end.result ?? null, end.error ?? null);
        else await this.deps.journal.finish(id, end.status, end.result, end.error ?? null);
      } catch (err) {
        if (this.deps.owedFinish && operation.team && isDatabaseUnreachable(err)) {
          this.deps.owedFinish(operation.team, id, end.status, end.result ?? null, end.error ?? null);
          this.log.warn('the journal is unreachable as an operation ends: its end is owed and written when the database answers', { operationId: id, error: String(err) });
        } else {
          this.log.error('could not journal the end of an operation; recovery will see it running', { operationId: id, error: String(err) });
        }
      }
      this.running.delete(id);
      // Not ended: its followers get no answer (their connections close with the process, and a
      // caller with an idempotencyKey re-attaches to it after the restart), the metrics no end.
      if (leftRunning) return;
      this.deps.onFinished?.({ type: operation.type, team: operation.team, status: end.status, durationSec: Math.max(0, (Date.now() - startedAtMs) / 1000), ...(end.error ? { error: end.error } : {}) });
      this.bus.emit('finished', end);
    })();
    this.running.set(id, { type: operation.type, operation, actor, controller, done });
  }

  /** Waits for the bus to report the end of `operationId`, relaying its progress. */
  private follow(operationId: string, onProgress: ((e: ProgressEvent) => void) | undefined, signal: AbortSignal | undefined, mayHaveEnded: boolean): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const onEvent = (e: ProgressEvent): void => {
        if (e.operationId === operationId) onProgress?.(e);
      };
      const onEnd = (end: OperationEnd): void => {
        if (end.operationId !== operationId) return;
        cleanup();
        if (end.status === 'succeeded') resolve(end.result);
        else reject(toSidecarError(end.error, operationId));
      };
      const onAbort = (): void => {
        cleanup();
        reject(new SidecarError('CONFLICT', `stopped following operation ${operationId}: the caller went away (the operation goes on)`, { reason: 'caller_gone', operationId }));
      };
      const cleanup = (): void => {
        this.bus.off('progress', onEvent);
        this.bus.off('finished', onEnd);
        signal?.removeEventListener('abort', onAbort);
      };
      this.bus.on('progress', onEvent);
      this.bus.on('finished', onEnd);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      // The body may have ended before we subscribed (idempotent re-attach to a short operation).
      if (mayHaveEnded && !this.running.has(operationId)) {
        this.deps.journal
          .get(operationId)
          .then((rec) => {
            if (rec && rec.status !== 'running') {
              cleanup();
              try {
                resolve(replay(rec));
              } catch (err) {
                reject(err);
              }
            }
          })
          .catch(() => undefined);
      }
    });
  }

  /** Another sidecar runs it: read the journal with bounded backoff (never a hot loop). */
  private async followJournal(record: OperationRecord, onProgress: ((e: ProgressEvent) => void) | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    const backoff = this.deps.followBackoffMs ?? { initial: 200, max: 2_000 };
    const limit = this.deps.followLimitMs ?? 2 * 60 * 60 * 1000;
    const startedAt = Date.now();
    let delay = backoff.initial;
    let phase = record.phase;
    onProgress?.({ operationId: record.id, phase, message: `following operation ${record.id} run by sidecar ${record.ownerInstance}` });
    for (;;) {
      if (signal?.aborted) throw new SidecarError('CONFLICT', `stopped following operation ${record.id}: the caller went away (the operation goes on)`, { reason: 'caller_gone', operationId: record.id });
      if (Date.now() - startedAt > limit) {
        throw new SidecarError('TIMEOUT', `operation ${record.id} still running after ${Math.round(limit / 1000)} s of following; attach again with operation.attach`, { operationId: record.id });
      }
      await sleep(delay, signal);
      delay = Math.min(backoff.max, delay * 2);
      const now = await this.deps.journal.get(record.id);
      if (!now) throw new SidecarError('NOT_FOUND', `operation ${record.id} disappeared from the journal`, { operationId: record.id });
      if (now.phase !== phase) {
        phase = now.phase;
        delay = backoff.initial; // something moved: look again soon
        onProgress?.({ operationId: record.id, phase, message: `phase ${phase}` });
      }
      if (now.status !== 'running') return replay(now);
    }
  }
}


function statusFor(err: unknown, aborted: boolean): OperationEnd['status'] {
  const named = isSidecarError(err) ? err.outcome : undefined;
  return named ?? (aborted ? 'aborted' : 'failed');
}

function errorRecord(thrown: unknown): NonNullable<OperationRecord['error']> {
  const err = asDependencyDown(thrown);
  if (isSidecarError(err)) return { code: err.code, message: err.message, data: err.data };
  return { code: 'DEPENDENCY_DOWN', message: `internal error: ${(err as Error)?.message ?? String(err)}` };
}

const isErrorCode = (c: string): c is ErrorCode => (ERROR_CODES as readonly string[]).includes(c);

export function toSidecarError(error: OperationRecord['error'] | undefined, operationId: string): SidecarError {
  if (!error) return new SidecarError('CONFLICT', `operation ${operationId} ended without a result`, { reason: 'ended_without_result', operationId });
  const data = error.data && typeof error.data === 'object' ? { ...(error.data as Record<string, unknown>) } : {};
  // The journaled data keeps the CONFLICT reason and the wire's operationStatus; the outcome is typed again here.
  const outcome = isOperationOutcome(data.operationStatus) ? data.operationStatus : undefined;
  if (isErrorCode(error.code)) return SidecarError.withCode(error.code, error.message, { ...data, operationId }, { outcome });
  return new SidecarError('DEPENDENCY_DOWN', `operation ${operationId} ended with an unknown error code ${error.code}: ${error.message}`, { ...data, operationId }, { outcome });
}

/** A finished operation's outcome, as if it had just ended. */
export function replay(record: OperationRecord): unknown {
  const status: OperationStatus = record.status;
  if (status === 'succeeded') return record.result;
  if (status === 'running') throw new Error('replay() of a running operation');
  throw toSidecarError(record.error, record.id);
}

/** The promise's value, or null when it has not settled within `ms` (it goes on; a late rejection is ignored). */
async function answeredWithin<T>(p: Promise<T>, ms: number): Promise<T | null> {
  p.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

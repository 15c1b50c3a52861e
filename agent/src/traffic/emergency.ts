import type { RollbackEmergencyParams } from '../../../catalog/methods/traffic';
import { otherEnvironment, type EnvironmentName, type Team } from '../../../catalog/teams-file';
import { SidecarError } from '../sidecar-error';
import type { AuditEntry, OperationContext, TeamEnvironmentState } from '../store/contract';
import { isDatabaseUnreachable } from '../store/pg-unreachable';
import type { LastReadEnvironments } from './last-read-state';
import { JOURNAL_STEP } from './journal-steps';
import type { TrafficDeps } from './traffic-deps';
import { discoverTeamBackends, splitWeights, type Weights } from './team-backends';
import { applyWeights } from './weights';
import type { OwedWrites } from './deferred-writes';

/**
 * rollback.emergency (and `sidecarctl emergency-stop`): halt the team's
 * in-flight switch, whatever it is doing, and put all traffic on the last known
 * good side (or `target`) at once. The target is set `ready` in the same breath
 * (an old side left in maint takes traffic again); health checks are not waited
 * for: this is the stop button. Audited with the reason.
 *
 * It works while PostgreSQL is unreachable: moving traffic to the side the
 * operator names (or the last known good side this sidecar last read) is always
 * safe, so HAProxy is changed at once and every record Postgres should get (the
 * operation's row when the runner could not begin it, the journal step, the
 * desired weights, the promote, the audit record, the end) is owed to
 * DeferredWrites and written in that order when the database answers again.
 * Once one record is owed, all later ones queue behind it: writing a later one
 * directly could land before the earlier one.
 */
export interface EmergencyResult {
  /** The journal's id, or one made here when the journal was unreachable (its row is written later). */
  operationId: string;
  active: EnvironmentName;
  weights: Weights;
  halted: string | null;
  elapsedMs: number;
  /** True when Postgres was unreachable: the records are written when it answers again. */
  recordsDeferred: boolean;
}

export interface EmergencyOptions {
  /** The runner could not begin the operation in the journal (its row is owed too). */
  journalDown?: boolean;
  /** Each team's environment_state as last read: the target when Postgres cannot say. */
  lastRead?: LastReadEnvironments;
}

/** The side that gets all traffic: the caller's, else the last known good side as last read. */
export function chooseEmergencyTarget(team: string, requested: EnvironmentName | undefined, known: Pick<TeamEnvironmentState, 'lastKnownGood'> | undefined): EnvironmentName {
  if (requested) return requested;
  if (known) return known.lastKnownGood;
  throw new SidecarError(
    'DEPENDENCY_DOWN',
    `the coordination database (PostgreSQL) is unreachable and this sidecar has not read ${team}'s environment state since it started, so it does not know the last known good side; nothing was changed — call again with target=blue or target=green (sidecarctl emergency-stop --target blue|green)`,
    { dependency: 'postgres', team },
  );
}

/**
 * Writes to Postgres while it answers; once it is unreachable (or earlier writes of the team are
 * owed), every later write is owed instead, in order.
 */
class EmergencyWrites {
  constructor(
    private readonly deferred: OwedWrites,
    public owing: boolean,
  ) {}

  /** An outage while writing directly: from now on the writes are owed. Anything else is a real error. */
  outage(err: unknown): void {
    if (!this.deferred.canOwe || !isDatabaseUnreachable(err)) throw err;
    this.owing = true;
  }

  /** A read that is skipped (undefined) while writes are owed or once the database is found away. */
  async read<T>(run: () => Promise<T>): Promise<T | undefined> {
    if (this.owing) return undefined;
    try {
      return await run();
    } catch (err) {
      this.outage(err);
      return undefined;
    }
  }

  /** Writes now, or owes the write once the database is unreachable (or earlier writes are owed). */
  async write(run: () => Promise<void>, owe: (d: OwedWrites) => void): Promise<void> {
    if (!this.owing) {
      try {
        await run();
        return;
      } catch (err) {
        this.outage(err);
      }
    }
    owe(this.deferred);
  }
}

interface EmergencyMove {
  team: string;
  opId: string;
  config: Team | undefined;
  initialActive: EnvironmentName;
  known: TeamEnvironmentState | undefined;
  target: EnvironmentName;
  weights: Weights;
  halted: string | null;
}

export async function runEmergencyRollback(deps: TrafficDeps, params: RollbackEmergencyParams, ctx: OperationContext, opts: EmergencyOptions = {}): Promise<EmergencyResult> {
  const started = Date.now();
  const team = params.team;
  const opId = ctx.operation.id;
  const config = deps.teamConfig(team);
  const initialActive = config?.active_environment ?? 'blue';
  // Logged before anything is written: during an outage this is the only record until the audit row lands.
  deps.log.warn('rollback.emergency requested', { team, target: params.target ?? null, reason: params.reason, actor: ctx.actor, operationId: opId, journalDown: opts.journalDown === true });

  const writes = new EmergencyWrites(deps.deferred, opts.journalDown === true || deps.deferred.pending(team));
  const read = await writes.read(() => deps.store.environments.ensure(team, initialActive));
  if (read) opts.lastRead?.remember([read]);
  const known = read ?? opts.lastRead?.get(team);
  const target = chooseEmergencyTarget(team, params.target, known);
  // In this process: stop the switch before it can touch HAProxy again. In other
  // sidecars the switch sees its desired weights change below and halts itself.
  const halted = await deps.inFlight.halt(team, `emergency rollback: ${params.reason}`, 300);
  const move: EmergencyMove = { team, opId, config, initialActive, known, target, weights: splitWeights(target, 100), halted };
  await applyEmergencyWeights(deps, move, params.reason, writes, opts);
  const elapsedMs = Date.now() - started;
  ctx.progress({ phase: 'done', message: `emergency rollback: all ${team} traffic on ${target} after ${elapsedMs} ms`, responseMs: elapsedMs });
  await recordEmergency(deps, ctx, move, params.reason, elapsedMs, writes, opts);
  // Webhooks and token triggers follow the traffic (queue-handover.ts); the stop button neither waits for that nor fails for it.
  if (deps.triggers && config) {
    void deps.triggers.moveBackTo(config, otherEnvironment(target), target).catch((e: unknown) => deps.log.warn('could not move the triggers with the emergency rollback', { team, error: String(e) }));
  }
  return { operationId: opId, active: target, weights: move.weights, halted, elapsedMs, recordsDeferred: writes.owing };
}

/** All traffic on the target, the target set ready in the same breath. */
async function applyEmergencyWeights(deps: TrafficDeps, move: EmergencyMove, reason: string, writes: EmergencyWrites, opts: EmergencyOptions): Promise<void> {
  const { store, haproxy, deferred } = deps;
  const { team, target, halted } = move;
  const { backends: tb } = await discoverTeamBackends(haproxy, team, move.config);
  const setReady = (): Promise<void> => haproxy.setState(tb.web, tb.servers[target], 'ready');
  const why = { name: JOURNAL_STEP.emergencyWeights, reason, target, halted };
  // Owing already: the step cannot be journaled before the records owed ahead of it (HAProxy now, the step later).
  const databaseDown = writes.owing ? (opts.journalDown ? 'the operations journal was unreachable when the operation began' : `earlier writes of ${team} are still owed to PostgreSQL`) : undefined;
  const applied = await applyWeights({ haproxy, journal: store.journal, environments: store.environments, deferred }, move.opId, tb, move.weights, why, setReady, { towardLastKnownGood: true, ...(databaseDown ? { databaseDown } : {}) });
  if (applied.deferred) writes.owing = true;
}

/** The halted switch's end (when owed), the promote, the audit record: written now or owed in order. */
async function recordEmergency(deps: TrafficDeps, ctx: OperationContext, move: EmergencyMove, reason: string, elapsedMs: number, writes: EmergencyWrites, opts: EmergencyOptions): Promise<void> {
  const { store, deferred } = deps;
  const { team, target, halted, weights, opId, initialActive } = move;
  // The halted switch's own end is written by its runner; when that cannot reach Postgres, this one is owed.
  if (writes.owing && halted && deferred.canOwe) {
    deferred.finish(team, halted, 'aborted', { code: 'CONFLICT', message: `switch of ${team} was halted by emergency rollback ${opId}: ${reason}`, data: { reason: 'halted', operationStatus: 'aborted', haltedBy: opId } });
  }
  await writes.write(
    async () => {
      const now = await store.environments.ensure(team, initialActive);
      if (now.active !== target) await store.environments.promote(team, target);
    },
    (d) => d.promote(team, target, initialActive),
  );
  if (writes.owing) opts.lastRead?.noteEmergencyMove(team, target, ctx.clock.now());

  // Other sidecars' switches of this team: the journal says which ones were running (unknown while it is unreachable).
  const running =
    (await writes.read(async () => (await store.journal.list({ team, status: 'running' })).filter((o) => o.type === 'traffic.switch' && o.id !== opId).map((o) => o.id))) ?? null;
  const entry: AuditEntry = {
    operationType: 'rollback.emergency',
    team,
    sourceEnvironment: move.known?.active ?? null,
    targetEnvironment: target,
    initiatedBy: ctx.actor.build ?? ctx.actor.tokenId,
    status: 'completed',
    rollbackReason: reason,
    actor: ctx.actor,
    operationId: opId,
    completedAt: ctx.clock.now(),
  };
  await writes.write(
    async () => {
      await store.audit.record({ ...entry, metadata: { weights, halted, runningSwitches: running, elapsedMs, recordsDeferred: false } });
    },
    // Owed with its id fixed now: written twice, it is still one row.
    (d) => d.audit(team, { ...entry, metadata: { weights, halted, runningSwitches: running, elapsedMs, recordsDeferred: true } }),
  );
  if (writes.owing) deps.log.warn('rollback.emergency applied without PostgreSQL; its records are written when it answers again', { team, target, lastRead: move.known ?? null, operationId: opId, actor: ctx.actor, elapsedMs });
}

import type { RollbackEmergencyParams } from '../../../catalog/methods/traffic';
import type { EnvironmentName } from '../../../catalog/teams-file';
import { SidecarError } from '../sidecar-error';
import type { AuditEntry, OperationContext, TeamEnvironmentState } from '../store/contract';
import { isDatabaseUnreachable } from '../store/pg-unreachable';
import type { LastReadEnvironments } from './last-read-state';
import type { TrafficDeps } from './switch';
import { discoverTeamBackends, splitWeights, type Weights } from './team-backends';
import { applyWeights } from './weights';
import type { DeferredWrites } from './deferred-writes';

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

export async function runEmergencyRollback(deps: TrafficDeps, params: RollbackEmergencyParams, ctx: OperationContext, opts: EmergencyOptions = {}): Promise<EmergencyResult> {
  const started = Date.now();
  const { store, haproxy, deferred } = deps;
  const team = params.team;
  const opId = ctx.operation.id;
  const config = deps.teamConfig?.(team);
  const initialActive = config?.active_environment ?? 'blue';
  // Logged before anything is written: during an outage this is the only record until the audit row lands.
  deps.log?.warn('rollback.emergency requested', { team, target: params.target ?? null, reason: params.reason, actor: ctx.actor, operationId: opId, journalDown: opts.journalDown === true });

  let owing = opts.journalDown === true || (deferred?.pending(team) ?? false);
  /** An outage while writing directly: from now on the writes are owed. Anything else is a real error. */
  const outage = (err: unknown): void => {
    if (!deferred || !isDatabaseUnreachable(err)) throw err;
    owing = true;
  };
  let known: TeamEnvironmentState | undefined;
  if (!owing) {
    try {
      known = await store.environments.ensure(team, initialActive);
      opts.lastRead?.remember([known]);
    } catch (err) {
      outage(err);
    }
  }
  known ??= opts.lastRead?.get(team);
  const target = chooseEmergencyTarget(team, params.target, known);
  const weights = splitWeights(target, 100);

  // In this process: stop the switch before it can touch HAProxy again. In other
  // sidecars the switch sees its desired weights change below and halts itself.
  const halted = (await deps.inFlight?.halt(team, `emergency rollback: ${params.reason}`, 300)) ?? null;
  const { backends: tb } = await discoverTeamBackends(haproxy, team, config);
  const setReady = (): Promise<void> => haproxy.setState(tb.web, tb.servers[target], 'ready');
  const why = { name: 'emergency-weights', reason: params.reason, target, halted };
  // Owing already: the step cannot be journaled before the records owed ahead of it (HAProxy now, the step later).
  const databaseDown = owing ? (opts.journalDown ? 'the operations journal was unreachable when the operation began' : `earlier writes of ${team} are still owed to PostgreSQL`) : undefined;
  const applied = await applyWeights({ haproxy, journal: store.journal, environments: store.environments, deferred }, opId, tb, weights, why, setReady, { towardLastKnownGood: true, ...(databaseDown ? { databaseDown } : {}) });
  if (applied.deferred) owing = true;
  const elapsedMs = Date.now() - started;
  ctx.progress({ phase: 'done', message: `emergency rollback: all ${team} traffic on ${target} after ${elapsedMs} ms`, responseMs: elapsedMs });

  /** Writes now, or owes the write once the database is unreachable (or earlier writes are owed). */
  const write = async (run: () => Promise<void>, owe: (d: DeferredWrites) => void): Promise<void> => {
    if (!owing) {
      try {
        await run();
        return;
      } catch (err) {
        outage(err);
      }
    }
    owe(deferred!);
  };

  // The halted switch's own end is written by its runner; when that cannot reach Postgres, this one is owed.
  if (owing && halted && deferred) {
    deferred.finish(team, halted, 'aborted', { code: 'CONFLICT', message: `switch of ${team} was halted by emergency rollback ${opId}: ${params.reason}`, data: { reason: 'halted', operationStatus: 'aborted', haltedBy: opId } });
  }
  await write(
    async () => {
      const now = await store.environments.ensure(team, initialActive);
      if (now.active !== target) await store.environments.promote(team, target);
    },
    (d) => d.promote(team, target, initialActive),
  );
  if (owing) opts.lastRead?.noteEmergencyMove(team, target, ctx.clock.now());

  // Other sidecars' switches of this team: the journal says which ones were running (unknown while it is unreachable).
  let running: string[] | null = null;
  if (!owing) {
    try {
      running = (await store.journal.list({ team, status: 'running' })).filter((o) => o.type === 'traffic.switch' && o.id !== opId).map((o) => o.id);
    } catch (err) {
      outage(err);
    }
  }
  const entry: AuditEntry = {
    operationType: 'rollback.emergency',
    team,
    sourceEnvironment: known?.active ?? null,
    targetEnvironment: target,
    initiatedBy: ctx.actor.build ?? ctx.actor.tokenId,
    status: 'completed',
    rollbackReason: params.reason,
    actor: ctx.actor,
    operationId: opId,
    completedAt: ctx.clock.now(),
  };
  await write(
    async () => {
      await store.audit.record({ ...entry, metadata: { weights, halted, runningSwitches: running, elapsedMs, recordsDeferred: false } });
    },
    // Owed with its id fixed now: written twice, it is still one row.
    (d) => d.audit(team, { ...entry, metadata: { weights, halted, runningSwitches: running, elapsedMs, recordsDeferred: true } }),
  );
  if (owing) deps.log?.warn('rollback.emergency applied without PostgreSQL; its records are written when it answers again', { team, target, lastRead: known ?? null, operationId: opId, actor: ctx.actor, elapsedMs });
  return { operationId: opId, active: target, weights, halted, elapsedMs, recordsDeferred: owing };
}

import { trafficSwitchParams } from '../../../catalog/methods/traffic';
import type { EnvironmentName } from '../../../catalog/teams-file';
import { isSidecarError } from '../sidecar-error';
import type { Actor, Clock, OperationRecord } from '../store/contract';
import { JOURNAL_STEP, type JournalStepName } from './journal-steps';
import type { TrafficDeps } from './traffic-deps';
import { otherEnvironment } from '../../../catalog/teams-file';
import { discoverTeamBackends, splitWeights, type Weights } from './team-backends';
import { applyWeights } from './weights';
import type { PausedSwitchResumer } from './resume-paused';
import { pauseEndsAt, pauseExpired, resumePointOf, type ResumePoint } from './switch/resume-point';

/**
 * Startup recovery for traffic operations this sidecar owned and did not
 * finish (it was killed). Reads each journal and brings the operation to a
 * consistent end:
 *  - a switch that had promoted → finished as succeeded;
 *  - a switch whose 100% window had validated → the promotion is completed;
 *  - a switch a person had paused (or an approval gate held) → at start only, resumed, still
 *    paused, where its journal left it, weights untouched (`resumer`); unless its maxPauseSec ran
 *    out meanwhile: then rolled back, saying so;
 *  - any other switch → all traffic back on the last known good side
 *    (rolled back);
 *  - an emergency rollback → its weights applied again.
 * The caller's lock is not ours to release (the caller holds its token): it
 * expires at its TTL, and the audit says so.
 */
export interface RecoveryAction {
  operationId: string;
  type: string;
  team: string | null;
  action: 'finished-promoted' | 'completed-promotion' | 'resumed-paused' | 'rolled-back' | 'reapplied-emergency' | 'skipped';
  active: EnvironmentName | null;
  weights: Weights | null;
  note: string;
}

const TRAFFIC_TYPES = new Set(['traffic.switch', 'rollback.emergency']);

/** Without a resumer (no runner to run it in) a paused switch is rolled back like any other. */
export async function recoverTrafficOperations(deps: TrafficDeps, instanceId: string, clock: Clock, resumer?: PausedSwitchResumer): Promise<RecoveryAction[]> {
  // Only at start: nothing of ours runs yet, so every running row of this instance is a leftover.
  const ops = (await deps.store.journal.unfinished(instanceId)).filter((o) => TRAFFIC_TYPES.has(o.type));
  return recoverOperations(deps, ops, instanceId, clock, resumer);
}

async function recoverOperations(deps: TrafficDeps, ops: OperationRecord[], instanceId: string, clock: Clock, resumer?: PausedSwitchResumer): Promise<RecoveryAction[]> {
  const actions: RecoveryAction[] = [];
  for (const op of ops) {
    try {
      actions.push(op.type === 'traffic.switch' ? await recoverSwitch(deps, op, instanceId, clock, resumer) : await recoverEmergency(deps, op, instanceId, clock));
    } catch (err) {
      // Leave it running: the next start tries again; say why in the audit.
      actions.push({ operationId: op.id, type: op.type, team: op.team, action: 'skipped', active: null, weights: null, note: `recovery failed: ${(err as Error).message}` });
      await deps.store.audit
        .record({ operationType: 'recovery', team: op.team, initiatedBy: `sidecar ${instanceId}`, status: 'failed', rollbackReason: (err as Error).message, metadata: { operationId: op.id, type: op.type }, operationId: op.id })
        .catch(() => undefined);
    }
  }
  return actions;
}

/**
 * Operations of a sidecar that stopped heartbeating (it died and is not coming
 * back, or is cut off): adopt each traffic one (one adopter wins the race) and
 * bring it to the same consistent end as startup recovery would.
 */
export async function adoptOrphanedTrafficOperations(deps: TrafficDeps, instanceId: string, clock: Clock, liveWithinSec: number): Promise<RecoveryAction[]> {
  const journal = deps.store.journal;
  if (!journal.orphaned || !journal.adopt) return [];
  const candidates = (await journal.orphaned(liveWithinSec)).filter((o) => TRAFFIC_TYPES.has(o.type) && o.ownerInstance !== instanceId);
  const adopted: OperationRecord[] = [];
  for (const op of candidates) {
    const mine = await journal.adopt(op.id, op.ownerInstance, instanceId);
    if (!mine) continue; // another sidecar won the race, or it ended
    adopted.push(mine);
    await deps.store.audit
      .record({ operationType: 'recovery', team: op.team, initiatedBy: `sidecar ${instanceId}`, status: 'adopted', metadata: { operationId: op.id, from: op.ownerInstance }, operationId: op.id })
      .catch(() => undefined);
  }
  // Only the adopted ones: this sidecar's own running operations are alive and not ours to end.
  // A paused switch is rolled back here, not resumed: an owner whose heartbeat only lagged still runs
  // it, and only a change of the desired weights tells that run to halt (a resumed copy changes none).
  return recoverOperations(deps, adopted, instanceId, clock);
}

/** Runs adoptOrphanedTrafficOperations every `intervalMs`; never throws. */
export function startOrphanSweeper(deps: TrafficDeps, instanceId: string, clock: Clock, opts: { liveWithinSec: number; intervalMs?: number; onActions?: (a: RecoveryAction[]) => void }): { stop(): Promise<void> } {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    current = current.then(async () => {
      try {
        const actions = await adoptOrphanedTrafficOperations(deps, instanceId, clock, opts.liveWithinSec);
        if (actions.length) opts.onActions?.(actions);
      } catch (err) {
        deps.log.warn('orphaned traffic operations sweep failed; retrying', { error: (err as Error).message });
      }
    });
  }, opts.intervalMs ?? 15_000);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}

const stepDone = (op: OperationRecord, name: JournalStepName, pred: (s: OperationRecord['steps'][number]) => boolean = () => true): boolean =>
  op.steps.some((s) => s.name === name && s.outcome === 'done' && pred(s));

/** One unfinished switch being recovered: its sides, and the audit row recovery writes for it. */
interface SwitchRecovery {
  deps: TrafficDeps;
  op: OperationRecord;
  instanceId: string;
  clock: Clock;
  team: string;
  target: EnvironmentName;
  source: EnvironmentName;
  actor: Actor;
  audit(status: string, note: string, extra?: Record<string, unknown>): Promise<string>;
}

function switchRecovery(deps: TrafficDeps, op: OperationRecord, instanceId: string, clock: Clock): SwitchRecovery {
  const team = String(op.params.team);
  const target = op.params.target as EnvironmentName;
  const source = otherEnvironment(target);
  const lockNote = `lock ${team}:${String(op.params.lockOperation ?? 'blue_green_switch')} belongs to the caller and expires at its TTL`;
  const actor: Actor = { tokenId: 'recovery', instanceId };
  const audit = (status: string, note: string, extra: Record<string, unknown> = {}): Promise<string> =>
    deps.store.audit.record({
      operationType: 'traffic.switch',
      team,
      sourceEnvironment: source,
      targetEnvironment: target,
      initiatedBy: `recovery on ${instanceId}`,
      status,
      rollbackReason: note,
      metadata: { recovered: true, lock: lockNote, ...extra },
      actor,
      operationId: op.id,
      completedAt: clock.now(),
    });
  return { deps, op, instanceId, clock, team, target, source, actor, audit };
}

async function recoverSwitch(deps: TrafficDeps, op: OperationRecord, instanceId: string, clock: Clock, resumer?: PausedSwitchResumer): Promise<RecoveryAction> {
  const r = switchRecovery(deps, op, instanceId, clock);
  const { team, target, source } = r;
  if (stepDone(op, JOURNAL_STEP.promote)) {
    const note = `sidecar restarted after the promotion to ${target}; finished the operation`;
    await r.audit('promoted', note);
    await deps.store.journal.finish(op.id, 'succeeded', { status: 'promoted', from: source, to: target, recovered: true });
    return { operationId: op.id, type: op.type, team, action: 'finished-promoted', active: target, weights: splitWeights(target, 100), note };
  }
  if (stepDone(op, JOURNAL_STEP.validate, (s) => s.result?.step === 100)) return completePromotion(r);
  const paused = resumer ? pausedPointOf(op) : null;
  if (!paused || !resumer) return rollBackInterrupted(r, null);
  if (pauseExpired(paused.hold, clock.now())) return rollBackInterrupted(r, { expired: paused });
  try {
    return await resumePaused(r, paused, resumer);
  } catch (err) {
    // Nobody would run it: put traffic somewhere safe instead of leaving it split with no owner.
    deps.log.warn('could not resume a paused switch after the restart; rolling it back', { team, operationId: op.id, error: String(err) });
    return rollBackInterrupted(r, { resumeFailed: (err as Error).message });
  }
}

/** The resume point of a switch row whose params still parse (a row from an older sidecar may not). */
function pausedPointOf(op: OperationRecord): ResumePoint | null {
  const params = trafficSwitchParams.safeParse(op.params);
  return params.success ? resumePointOf(op, params.data) : null;
}

/** Paused when the sidecar died: run again here, still paused, weights untouched (the reconcile loop keeps them). */
async function resumePaused(r: SwitchRecovery, point: ResumePoint, resumer: PausedSwitchResumer): Promise<RecoveryAction> {
  const { deps, op, team, instanceId } = r;
  await resumer.resume(deps, op, point, r.actor);
  const { hold } = point;
  const where = point.at === 'window' ? `in the ${point.percent}% window` : `before the ${point.percent}% step`;
  const ends = pauseEndsAt(hold);
  const note = `sidecar restarted while the switch was paused ${where} by ${hold.by} since ${hold.since.toISOString()}; resumed it paused${ends ? ` (the pause ends at ${ends.toISOString()})` : ''}, weights unchanged`;
  await deps.store.audit
    .record({ operationType: 'recovery', team, initiatedBy: `sidecar ${instanceId}`, status: 'resumed_paused', rollbackReason: note, metadata: { operationId: op.id, percent: point.percent, at: point.at, weights: point.weights, pausedBy: hold.by, pausedSince: hold.since.toISOString() }, actor: r.actor, operationId: op.id })
    .catch(() => undefined);
  return { operationId: op.id, type: op.type, team, action: 'resumed-paused', active: null, weights: point.weights, note };
}

/** Everything was judged good at 100%; only the old side's maint and the promotion were missing. */
async function completePromotion(r: SwitchRecovery): Promise<RecoveryAction> {
  const { deps, op, team, target, source } = r;
  const { store, haproxy } = deps;
  const { backends: tb } = await discoverTeamBackends(haproxy, team, deps.teamConfig(team));
  const seq = await store.journal.intent(op.id, JOURNAL_STEP.recoveryPromote, { active: target });
  await applyWeights({ haproxy, journal: store.journal, environments: store.environments, deferred: deps.deferred }, op.id, tb, splitWeights(target, 100), { name: JOURNAL_STEP.recoveryWeights, reason: 'complete validated switch' });
  await haproxy.setState(tb.web, tb.servers[source], 'maint');
  await store.environments.promote(team, target);
  await store.journal.outcome(op.id, seq, 'done', { active: target });
  const note = `sidecar restarted after ${target} validated at 100%; completed the promotion (${source} set to maint)`;
  await r.audit('promoted', note);
  await store.journal.finish(op.id, 'succeeded', { status: 'promoted', from: source, to: target, recovered: true });
  return { operationId: op.id, type: op.type, team, action: 'completed-promotion', active: target, weights: splitWeights(target, 100), note };
}

/** Why a paused switch was rolled back instead of resumed: its pause ran out while the sidecar was down, or it could not be run again. */
type NotResumed = { expired: ResumePoint } | { resumeFailed: string };

/** Any other interrupted switch: all traffic back on the last known good side. */
async function rollBackInterrupted(r: SwitchRecovery, notResumed: NotResumed | null): Promise<RecoveryAction> {
  const { deps, op, team } = r;
  const { store, haproxy } = deps;
  const config = deps.teamConfig(team);
  const { backends: tb } = await discoverTeamBackends(haproxy, team, config);
  const state = await store.environments.ensure(team, config?.active_environment ?? 'blue');
  const good = state.lastKnownGood;
  const weights = splitWeights(good, 100);
  const lastStep = [...op.steps].reverse().find((s) => s.name === JOURNAL_STEP.weights);
  const where = lastStep ? `at the ${String(lastStep.intent.step)}% step (${lastStep.outcome})` : 'before moving any traffic';
  const why = notResumedNote(notResumed, r.clock);
  let haproxyNote = '';
  try {
    await applyWeights({ haproxy, journal: store.journal, environments: store.environments, deferred: deps.deferred }, op.id, tb, weights, { name: JOURNAL_STEP.recoveryRollback, reason: `sidecar restarted ${where}${why}` }, () =>
      haproxy.setState(tb.web, tb.servers[good], 'ready'),
    );
  } catch (err) {
    if (!(isSidecarError(err) && err.code === 'DEPENDENCY_DOWN')) throw err;
    // Desired weights are recorded; the reconcile loop applies them when HAProxy answers.
    haproxyNote = `; HAProxy unreachable (${err.message}), the reconcile loop applies the weights when it answers`;
  }
  // No breaker failure: a crash (or a pause nobody ended) says nothing about the target's health.
  const note = `sidecar restarted ${where}${why}; all traffic back on ${good} (last known good)${haproxyNote}`;
  await r.audit('rolled_back', note, { weights });
  await store.journal.finish(op.id, 'rolled_back', null, interruptedError(r, notResumed, `${where}${why}`, good));
  // Webhooks and token triggers follow the traffic back (a migration before the switch may have moved them); in the background.
  if (deps.triggers && config) {
    void deps.triggers.moveBackTo(config, otherEnvironment(good), good).catch((e: unknown) => deps.log.warn('could not move the triggers back after recovery', { team, error: String(e) }));
  }
  return { operationId: op.id, type: op.type, team, action: 'rolled-back', active: good, weights, note };
}

function notResumedNote(n: NotResumed | null, clock: Clock): string {
  if (!n) return '';
  if ('resumeFailed' in n) return ` while paused; it could not be resumed paused (${n.resumeFailed})`;
  const { hold } = n.expired;
  return ` while paused by ${hold.by} since ${hold.since.toISOString()}: its maxPauseSec of ${hold.maxPauseSec}s ran out at ${pauseEndsAt(hold)?.toISOString()} while the sidecar was down (found at ${clock.now().toISOString()})`;
}

/** The operation's error: TIMEOUT for a pause that ran out, otherwise CONFLICT interrupted_by_restart. */
function interruptedError(r: SwitchRecovery, n: NotResumed | null, what: string, good: EnvironmentName): NonNullable<OperationRecord['error']> {
  const message = `switch of ${r.team} to ${r.target} was interrupted by a sidecar restart ${what}; recovery put all traffic back on ${good}. Start a new switch`;
  if (n && 'expired' in n) {
    const { hold } = n.expired;
    return { code: 'TIMEOUT', message, data: { reason: 'pause_expired', active: good, recovered: true, pausedBy: hold.by, pausedSince: hold.since.toISOString(), maxPauseSec: hold.maxPauseSec } };
  }
  return { code: 'CONFLICT', message, data: { reason: 'interrupted_by_restart', active: good, recovered: true } };
}

async function recoverEmergency(deps: TrafficDeps, op: OperationRecord, instanceId: string, clock: Clock): Promise<RecoveryAction> {
  const { store, haproxy } = deps;
  const team = String(op.params.team);
  const config = deps.teamConfig(team);
  const state = await store.environments.ensure(team, config?.active_environment ?? 'blue');
  const target = (op.params.target as EnvironmentName | undefined) ?? state.lastKnownGood;
  const weights = splitWeights(target, 100);
  const { backends: tb } = await discoverTeamBackends(haproxy, team, config);
  await applyWeights({ haproxy, journal: store.journal, environments: store.environments, deferred: deps.deferred }, op.id, tb, weights, { name: JOURNAL_STEP.recoveryEmergency, reason: 'sidecar restarted during an emergency rollback' }, () =>
    haproxy.setState(tb.web, tb.servers[target], 'ready'),
  );
  if (state.active !== target) await store.environments.promote(team, target);
  const note = `sidecar restarted during an emergency rollback; all ${team} traffic on ${target}`;
  await store.audit.record({
    operationType: 'rollback.emergency',
    team,
    targetEnvironment: target,
    initiatedBy: `recovery on ${instanceId}`,
    status: 'completed',
    rollbackReason: String(op.params.reason ?? ''),
    metadata: { recovered: true, weights },
    actor: { tokenId: 'recovery', instanceId },
    operationId: op.id,
    completedAt: clock.now(),
  });
  await store.journal.finish(op.id, 'succeeded', { active: target, weights, halted: null, recovered: true });
  return { operationId: op.id, type: op.type, team, action: 'reapplied-emergency', active: target, weights, note };
}

import type { TrafficSwitchParams } from '../../../catalog/methods/traffic';
import { otherEnvironment, type EnvironmentName, type Team } from '../../../catalog/teams-file';
import { sleep as realSleep } from '../sleep';
import { parseTriggers } from '../../../catalog/triggers';
import { isSidecarError, SidecarError } from '../sidecar-error';
import type { HaproxyDriver } from '../haproxy/runtime-api';
import { isDatabaseUnreachable } from '../store/pg-unreachable';
import { isAdminHeld, isServerUp, type ServerStat } from '../haproxy/stats';
import { lockNameFor, type AuditEntry, type AuditLog, type BreakerStore, type EnvironmentStateStore, type LockStore, type OperationContext, type OperationJournal } from '../store/contract';
import type { JenkinsClientFactory } from '../environments/controllers';
import { handOverAgents, type AgentHandoverReport } from './agent-handover';
import type { ContainerMetrics } from './container-metrics';
import type { DeferredWrites } from './deferred-writes';
import type { InFlightSwitches } from './in-flight';
import { peopleTableName } from '../../../catalog/haproxy-names';
import { describeBreaches, judge, stuck, windowFigures, withSynthetic, type Breach, type SliSample, type SyntheticOutcome, type WindowFigures } from './sli';
import type { SyntheticCheck } from './synthetic';
import { discoverTeamBackends, splitWeights, type TeamBackends, type Weights } from './team-backends';
import { applyWeights } from './weights';
import type { WebhookNotifier } from './webhooks';
import type { TriggerHandover } from './queue-handover';
import type { StayedBehindWatcher } from '../environments/stayed-behind';
import type { PreSwitchSync, TargetSync } from '../environments/pre-switch-sync';

/**
 * traffic.switch: the progressive blue/green move, owned by the sidecar from
 * start to end. Preconditions (fencing token, breaker, target UP), then per
 * increment: set both weights (journaled before and after), sample `show stat`
 * about once a second for the window, judge the triggers on the window's
 * deltas; on a breach put everything back at once. At 100% validated: drain the
 * old side, then maint, then promote in environment_state.
 *
 * The weights place new sessions only: HAProxy pins each person to the controller
 * holding their session (haproxy.cfg's cookie). The 100% step is the final cut
 * (the old side at 0 loses its pinned people, each once); a rollback puts the
 * target at 0, which moves everyone off it, pinned or not.
 */
export interface TrafficDeps {
  store: {
    locks: LockStore;
    journal: OperationJournal;
    environments: EnvironmentStateStore;
    breakers: BreakerStore;
    audit: AuditLog;
  };
  haproxy: HaproxyDriver;
  /** The team's configuration from the teams file (undefined: default names). */
  teamConfig?: (team: string) => Team | undefined;
  containerMetrics?: ContainerMetrics;
  webhooks?: WebhookNotifier;
  inFlight?: InFlightSwitches;
  /** Records owed to Postgres after a rollback applied without it (see weights.ts). */
  deferred?: DeferredWrites;
  /** A synthetic Jenkins transaction on the target through HAProxy, run during every window (synthetic.ts). */
  synthetic?: SyntheticCheck;
  /** REST clients of the team's controllers: after promotion, inbound agents move off the old side (agent-handover.ts). */
  jenkinsFor?: JenkinsClientFactory;
  /** Webhooks and queued builds follow the side that serves after a promotion or a rollback (queue-handover.ts). */
  triggers?: TriggerHandover;
  /** Waits; resolves early when the signal fires. Tests may pass a faster one. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Lists the target's home at the start; a rollback reports what it did meanwhile (stayed-behind.ts). */
  stayedBehind?: StayedBehindWatcher;
  /** Brings a target without traffic up to date with the source (migration and reload) before it gets any (pre-switch-sync.ts). */
  targetSync?: TargetSync;
  log?: { info(m: string, meta?: Record<string, unknown>): void; warn(m: string, meta?: Record<string, unknown>): void };
}

export const breakerNameFor = (team: string): string => `infrastructure_modification:${team}`;

export interface StepRecord {
  percent: number;
  weights: Weights;
  windowSec: number;
  verdict: 'pass' | 'breach' | 'insufficient' | 'halted';
  figures: WindowFigures | null;
  samples: number;
}

export interface SwitchResult {
  status: 'promoted';
  from: EnvironmentName;
  to: EnvironmentName;
  alreadyActive?: boolean;
  steps: StepRecord[];
  drained: { sessionsAtMaint: number; waitedMs: number } | null;
  /** Inbound agents moved off the old side after promotion (null: no REST client or teams-file entry). */
  agents?: AgentHandoverReport | null;
  /** What bringing the target up to date before it got traffic did (absent when not configured). */
  synced?: PreSwitchSync;
}

/** Halted from outside (emergency rollback here or in another sidecar): stop without touching weights. */
class Halted extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

const sameWeights = (a: Weights, b: Weights): boolean => a.blue === b.blue && a.green === b.green;

export async function runTrafficSwitch(deps: TrafficDeps, params: TrafficSwitchParams, ctx: OperationContext): Promise<SwitchResult> {
  const { store, haproxy } = deps;
  const sleep = deps.sleep ?? realSleep;
  const opId = ctx.operation.id;
  const team = params.team;
  const target = params.target;
  const source = otherEnvironment(target);
  const triggers = parseTriggers(params.triggers);
  const config = deps.teamConfig?.(team);
  const initiatedBy = ctx.actor.build ?? ctx.actor.tokenId;

  // ---- preconditions: nothing has been changed yet, so a failure here is just an error ----
  await store.locks.assertHeld({ team, operation: params.lockOperation, token: params.lockToken });
  await store.breakers.admit(breakerNameFor(team));
  const state = await store.environments.ensure(team, config?.active_environment ?? 'blue');
  const { backends: tb, state: serversState } = await discoverTeamBackends(haproxy, team, config);

  if (state.active === target && state.weights[target] === 100 && state.weights[source] === 0) {
    ctx.progress({ phase: 'done', message: `${target} already has all traffic for ${team}; nothing to switch` });
    return { status: 'promoted', from: source, to: target, alreadyActive: true, steps: [], drained: null };
  }

  if (deps.webhooks) {
    try {
      await deps.webhooks.notify(team, 'pre-switch', { operationId: opId, from: source, to: target, initiatedBy });
    } catch (err) {
      throw new SidecarError('CONFLICT', `the pre-switch webhook for team ${team} refused the switch: ${(err as Error).message}; nothing was changed`, { reason: 'webhook_refused', team });
    }
  }

  // A reload answers 503 until it ends: the target takes it now, while it serves nothing.
  const synced = state.weights[target] === 0 ? await deps.targetSync?.bringUpToDate(team, source, target, ctx) : undefined;
  // What the target holds before anyone is sent to it: a rollback lists what it did since.
  const leftovers = await deps.stayedBehind?.watch(team, target);
  // From here an emergency rollback in this process can halt the switch at once.
  const registration = deps.inFlight?.register(team, opId);
  const haltSignal = registration?.signal;
  // Either the runner (shutdown) or an emergency stop ends the waits early.
  const anySignal = haltSignal ? AbortSignal.any([ctx.signal, haltSignal]) : ctx.signal;
  let lastApplied: Weights = { ...state.weights };
  /** Set once rollBack() has moved the traffic back: its error is final. */
  let rolledBack = false;
  /** Set once a weight change was applied: before that a failure is just an error (nothing to undo). */
  let moved = false;
  /** Set when the rollback reached HAProxy but not Postgres: its records (and the operation's end) are owed. */
  let rollbackDeferred: string | null = null;
  const steps: StepRecord[] = [];

  const checkHalted = async (): Promise<void> => {
    if (haltSignal?.aborted) throw new Halted(String((haltSignal.reason as Error)?.message ?? 'emergency stop'));
    const now = await store.environments.get(team);
    if (now && !sameWeights(now.weights, lastApplied)) {
      throw new Halted(`desired weights for ${team} changed to ${JSON.stringify(now.weights)} outside this switch (emergency rollback?)`);
    }
  };
  const targetStat = async (): Promise<ServerStat> => {
    const stats = await haproxy.showStat();
    const s = stats.find((x) => x.backend === tb.web && x.server === tb.servers[target]);
    if (!s) throw new SidecarError('NOT_FOUND', `HAProxy no longer has ${tb.web}/${tb.servers[target]}`, { team });
    return s;
  };
  // Fencing during the switch: once another owner holds the lock (a newer token), this switch is
  // stale and must stop; a lease that merely ran out with nobody else holding it does not stop
  // a switch halfway (that would leave traffic split).
  const checkFence = async (): Promise<void> => {
    try {
      await store.locks.assertHeld({ team, operation: params.lockOperation, token: params.lockToken });
    } catch (err) {
      if (!(isSidecarError(err) && err.code === 'FENCED')) throw err;
      const name = lockNameFor(team, params.lockOperation);
      const other = (await store.locks.list({ team })).find((l) => l.lockName === name && l.token !== params.lockToken && l.expiresAt.getTime() > ctx.clock.now().getTime());
      if (other) throw err;
    }
  };
  /** Set when a store call found the database unreachable: the rollback then applies to HAProxy without trying it again. */
  let databaseDown: string | null = null;
  const move = async (weights: Weights, why: { name: string; [k: string]: unknown }, towardLastKnownGood = false): Promise<void> => {
    moved = true;
    const applied = await applyWeights({ haproxy, journal: store.journal, environments: store.environments, deferred: deps.deferred }, opId, tb, weights, why, undefined, {
      towardLastKnownGood,
      ...(databaseDown ? { databaseDown } : {}),
    });
    lastApplied = weights;
    if (applied.deferred) rollbackDeferred = applied.databaseError ?? 'Postgres unreachable';
  };
  /** The operation's end, owed to Postgres with the rollback's records when the database was away. */
  const owed = (e: unknown): unknown => {
    if (rollbackDeferred && deps.deferred && isSidecarError(e)) deps.deferred.finish(team, opId, 'rolled_back', { code: e.code, message: e.message, data: e.data });
    return e;
  };

  try {
    // ---- target ready and UP before it gets any weight ----
    await prepareTarget(deps, params, ctx, tb, serversState, target, sleep, anySignal);

    for (const percent of params.increments) {
      await checkHalted();
      if (ctx.signal.aborted) throw new SidecarError('DEPENDENCY_DOWN', 'the sidecar is shutting down', {});
      await checkFence();
      const weights = splitWeights(target, percent);
      // Never lower the old side while the target is not UP.
      const ts = await targetStat();
      if (!isServerUp(ts)) {
        return await rollBack(`target ${tb.servers[target]} is ${ts.status} before the ${percent}% step`, null, percent);
      }
      await move(weights, { name: 'weights', step: percent, from: lastApplied, reason: 'progressive step' });
      ctx.progress({ phase: `step-${percent}`, message: `${percent}% of new ${team} sessions on ${target} (signed-in people stay on the controller that has their session until the final cut)`, step: percent, weights });
      if (deps.webhooks) deps.webhooks.notify(team, 'step', { operationId: opId, percent, weights }).catch((e: unknown) => deps.log?.warn('step webhook failed', { team, error: String(e) }));

      const seq = await store.journal.intent(opId, 'validate', { step: percent, validationSec: params.validationSec });
      const outcome = await validateWindow(deps, params, ctx, tb, target, triggers, percent, sleep, anySignal, checkHalted);
      steps.push({ percent, weights, windowSec: outcome.windowSec, verdict: outcome.verdict.kind, figures: outcome.verdict.figures, samples: outcome.samples });
      await store.journal.outcome(opId, seq, outcome.verdict.kind === 'pass' ? 'done' : 'failed', {
        step: percent,
        verdict: outcome.verdict.kind,
        figures: outcome.verdict.figures as unknown as Record<string, unknown>,
      });
      if (outcome.verdict.kind === 'breach') {
        return await rollBack(`SLI breach at ${percent}%: ${describeBreaches(outcome.verdict.breaches)}`, outcome.verdict.breaches, percent, outcome.verdict.figures, 'SLI_BREACH', outcome.decidedAt);
      }
      if (outcome.verdict.kind === 'insufficient') {
        return await rollBack(
          stuck(outcome.verdict.figures)
            ? `${target} answered none of its requests at ${percent}% in ${outcome.windowSec}s while holding ${outcome.verdict.figures.held} sessions; not enough to judge`
            : `only ${outcome.verdict.figures.requests} requests reached ${target} at ${percent}% in ${outcome.windowSec}s (minSamples ${params.minSamples}); not enough to judge`,
          null,
          percent,
          outcome.verdict.figures,
          'TIMEOUT',
        );
      }
      ctx.progress({ phase: `step-${percent}`, message: `${percent}% validated: ${summarise(outcome.verdict.figures)}`, step: percent, figures: outcome.verdict.figures });
    }

    // ---- promote: drain the old side, then maint, then environment_state ----
    const drained = await drainOld(deps, params, ctx, tb, source, sleep, anySignal, checkHalted);
    await checkHalted();
    const promoteSeq = await store.journal.intent(opId, 'promote', { active: target, previous: source });
    await store.environments.promote(team, target);
    await store.journal.outcome(opId, promoteSeq, 'done', { active: target });
    const agents = config && deps.jenkinsFor ? await handOverAgents({ jenkinsFor: deps.jenkinsFor, sleep }, config, source, target, ctx, anySignal, { timeoutMs: params.drainTimeoutSec * 1000 }) : null;
    if (deps.triggers && config) await deps.triggers.moveTo(config, source, target, ctx);
    await store.breakers.recordSuccess(breakerNameFor(team));
    await store.audit.record({
      operationType: 'traffic.switch',
      team,
      sourceEnvironment: source,
      targetEnvironment: target,
      initiatedBy,
      status: 'promoted',
      metadata: { steps, agents },
      actor: ctx.actor,
      operationId: opId,
      completedAt: ctx.clock.now(),
    });
    if (deps.webhooks) deps.webhooks.notify(team, 'promoted', { operationId: opId, active: target }).catch((e: unknown) => deps.log?.warn('promoted webhook failed', { team, error: String(e) }));
    ctx.progress({ phase: 'done', message: `${team} promoted to ${target}` });
    return { status: 'promoted', from: source, to: target, steps, drained, agents, ...(synced ? { synced } : {}) };
  } catch (caught) {
    // An emergency stop that fired while the switch waited surfaces as whatever the wait threw.
    const err = !rolledBack && !(caught instanceof Halted) && haltSignal?.aborted ? new Halted(String((haltSignal.reason as Error)?.message ?? 'emergency stop')) : caught;
    if (err instanceof Halted) {
      await store.audit
        .record({ operationType: 'traffic.switch', team, sourceEnvironment: source, targetEnvironment: target, initiatedBy, status: 'halted', rollbackReason: err.why, metadata: { steps }, actor: ctx.actor, operationId: opId, completedAt: ctx.clock.now() })
        .catch(() => undefined);
      throw new SidecarError('CONFLICT', `switch of ${team} to ${target} was halted: ${err.why}`, { reason: 'halted', steps }, { outcome: 'aborted' });
    }
    if (rolledBack || !moved) throw owed(err);
    // Anything else mid-switch (HAProxy or Postgres gone, a partition, shutdown): put traffic back on the source.
    const message = (err as Error).message;
    // Only the database (not an HAProxy socket refusing): the records cannot be written, HAProxy can.
    if (isDatabaseUnreachable(err)) databaseDown = message;
    let rbMessage = '';
    try {
      // Not the target's fault: the breaker does not count it.
      await rollBack(`switch failed: ${message}`, null, null, undefined, 'DEPENDENCY_DOWN');
    } catch (rbErr) {
      rbMessage = (rbErr as Error).message;
      if (!rolledBack) deps.log?.warn('rollback after a failed switch did not complete; the reconcile loop and recovery finish it', { team, error: String(rbErr) });
    }
    const deferredNote = rollbackDeferred ? ` (Postgres unreachable: the journal, the desired weights and this operation's end are written when it answers again; the reconcile loop leaves ${team} alone until then)` : '';
    throw owed(
      SidecarError.withCode(
        isSidecarError(err) ? err.code : 'DEPENDENCY_DOWN',
        rolledBack
          ? `${message}; all ${team} traffic was moved back to ${source}${deferredNote}`
          : `${message}; moving traffic back to ${source} failed too (${rbMessage}): if Postgres took the desired weights (${source} 100) the reconcile loop applies them when HAProxy answers, otherwise a sidecar restart's recovery moves traffic back`,
        { ...(isSidecarError(err) ? err.data : {}), steps, recordsDeferred: rollbackDeferred !== null },
        { cause: err, outcome: rolledBack ? 'rolled_back' : 'failed' },
      ),
    );
  } finally {
    registration?.done();
  }

  /** All traffic back on the source at once, then the record. Always throws (rolled back is terminal). */
  async function rollBack(
    reason: string,
    found: Breach[] | null,
    percent: number | null,
    figures?: WindowFigures,
    code: 'SLI_BREACH' | 'TIMEOUT' | 'DEPENDENCY_DOWN' = 'SLI_BREACH',
    detectedAt: number = ctx.clock.now().getTime(),
  ): Promise<never> {
    const weights = splitWeights(source, 100);
    // Back toward the last known good side: safe without Postgres (weights.ts).
    await move(weights, { name: 'rollback', reason, step: percent }, source === state.lastKnownGood);
    rolledBack = true;
    const rolledBackAt = ctx.clock.now().getTime();
    const rollbackMs = rolledBackAt - detectedAt;
    const owedNote = rollbackDeferred ? `; Postgres is unreachable (${rollbackDeferred}): the records are written when it answers again` : '';
    if (rollbackDeferred) deps.log?.warn('rolled back without Postgres; records owed', { team, operationId: opId, error: rollbackDeferred });
    ctx.progress({ phase: 'rolled-back', message: `rolled back: all ${team} traffic on ${source}, signed-in people on ${target} included (${reason})${owedNote}`, weights, figures: figures ?? null, recordsDeferred: rollbackDeferred !== null, responseMs: rollbackMs });
    if (found || code === 'SLI_BREACH') await store.breakers.recordFailure(breakerNameFor(team), reason).catch(() => undefined);
    const stayedBehind = (await leftovers?.report(ctx)) ?? null;
    const entry: AuditEntry = {
      operationType: 'traffic.switch',
      team,
      sourceEnvironment: source,
      targetEnvironment: target,
      initiatedBy,
      status: 'rolled_back',
      rollbackReason: reason,
      metadata: { step: percent, breaches: found ?? [], figures: figures ?? null, steps, recordsDeferred: rollbackDeferred !== null, stayedBehind },
      actor: ctx.actor,
      operationId: opId,
      completedAt: ctx.clock.now(),
    };
    if (rollbackDeferred && deps.deferred) {
      // Written with the other owed records, in order, once the database answers (its id fixed now: one row however often it is retried).
      deps.deferred.audit(team, entry);
    } else {
      await store.audit.record(entry).catch((e: unknown) => deps.log?.warn('could not write the audit record of a rollback', { team, operationId: opId, error: String(e) }));
    }
    if (deps.webhooks) deps.webhooks.notify(team, 'rolled-back', { operationId: opId, reason, figures: figures ?? null }).catch(() => undefined);
    if (deps.triggers && config) await deps.triggers.moveBackTo(config, target, source, ctx);
    throw new SidecarError(code, `switch of ${team} to ${target} rolled back, all traffic is on ${source}: ${reason}${owedNote}`, {
      team,
      active: source,
      step: percent,
      breaches: found ?? [],
      figures: figures ?? null,
      errorRate: figures?.errorRate ?? null,
      responseTimeMs: figures?.responseTimeMs ?? null,
      /** From the sample that decided to the weights applied in HAProxy. */
      rollbackMs,
      detectedAt: new Date(detectedAt).toISOString(),
      rolledBackAt: new Date(rolledBackAt).toISOString(),
      steps,
      stayedBehind,
    }, { outcome: 'rolled_back' });
  }
}

function summarise(f: WindowFigures): string {
  const people = `${f.sessionRequests} from signed-in people (${f.sessionErrors} crumb refusals or lost sessions)`;
  const synthetic = f.synthetic ? `, ${f.synthetic.runs} synthetic Jenkins transactions passed` : ', no synthetic check (no jenkins_token_file or SIDECAR_HAPROXY_FRONTEND)';
  return `${f.requests} requests (${people}), error rate ${f.errorRate}%, response time ${f.responseTimeMs ?? '-'} ms, availability ${f.availability}%${synthetic}`;
}

async function prepareTarget(
  deps: TrafficDeps,
  params: TrafficSwitchParams,
  ctx: OperationContext,
  tb: TeamBackends,
  serversState: Awaited<ReturnType<HaproxyDriver['showServersState']>>,
  target: EnvironmentName,
  sleep: (ms: number, s?: AbortSignal) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const srv = serversState.find((s) => s.backend === tb.web && s.server === tb.servers[target]);
  const held = srv ? isAdminHeld(srv) : { maint: false, drain: false };
  if (held.maint || held.drain) {
    const seq = await deps.store.journal.intent(ctx.operation.id, 'prepare-target', { server: tb.servers[target], from: held.maint ? 'maint' : 'drain', to: 'ready' });
    await deps.haproxy.setState(tb.web, tb.servers[target], 'ready');
    await deps.store.journal.outcome(ctx.operation.id, seq, 'done', { state: 'ready' });
    ctx.progress({ phase: 'prepare', message: `${tb.servers[target]} was in ${held.maint ? 'maint' : 'drain'}; set ready, waiting for its health checks` });
  }
  const deadline = ctx.clock.now().getTime() + params.readyTimeoutSec * 1000;
  for (;;) {
    const s = (await deps.haproxy.showStat()).find((x) => x.backend === tb.web && x.server === tb.servers[target]);
    if (s && isServerUp(s)) return;
    if (ctx.clock.now().getTime() >= deadline || signal.aborted) {
      throw new SidecarError(
        'CONFLICT',
        `target ${tb.servers[target]} is ${s?.status ?? 'missing'} (check: ${s?.checkStatus ?? '-'} ${s?.lastChk ?? ''}) after ${params.readyTimeoutSec}s; deploy or fix the ${target} environment first (environment.deploy / environment.validate). No traffic was moved`,
        { reason: 'target_not_ready', server: tb.servers[target], status: s?.status ?? null },
      );
    }
    await sleep(200, signal);
  }
}

interface WindowOutcome {
  verdict: NonNullable<ReturnType<typeof judge>>;
  windowSec: number;
  samples: number;
  /** When the deciding sample was read (ms since epoch). */
  decidedAt: number;
}

async function validateWindow(
  deps: TrafficDeps,
  params: TrafficSwitchParams,
  ctx: OperationContext,
  tb: TeamBackends,
  target: EnvironmentName,
  triggers: ReturnType<typeof parseTriggers>,
  percent: number,
  sleep: (ms: number, s?: AbortSignal) => Promise<void>,
  signal: AbortSignal,
  checkHalted: () => Promise<void>,
): Promise<WindowOutcome> {
  const container = deps.containerMetrics && deps.teamConfig?.(params.team)?.environments[target].container;
  let latestContainer: SliSample['container'] = null;
  let pendingContainer = false;
  const pollContainer = (): void => {
    if (!deps.containerMetrics || !container || pendingContainer) return;
    pendingContainer = true;
    deps.containerMetrics
      .sample(container)
      .then((c) => (latestContainer = c))
      .catch(() => undefined)
      .finally(() => (pendingContainer = false));
  };
  const readPeople = async (): Promise<SliSample['people']> => {
    if (!deps.haproxy.peopleCounters) return null;
    // A config rendered before the people table existed has none: the window goes on without it.
    const table = await deps.haproxy.peopleCounters(peopleTableName(params.team)).catch(() => null);
    return table ? (table.get(tb.servers[target]) ?? { requests: 0, errors: 0 }) : null;
  };
  const sample = async (): Promise<SliSample> => {
    pollContainer();
    const s = (await deps.haproxy.showStat()).find((x) => x.backend === tb.web && x.server === tb.servers[target]);
    if (!s) throw new SidecarError('NOT_FOUND', `HAProxy no longer has ${tb.web}/${tb.servers[target]}`, { team: params.team });
    return { at: ctx.clock.now().getTime(), target: s, container: latestContainer, people: await readPeople() };
  };
  const start = ctx.clock.now().getTime();
  const windowEnd = start + params.validationSec * 1000;
  const extendedEnd = start + (params.maxWindowSec ?? params.validationSec * 3) * 1000;
  const holdEnd = extendedEnd + params.holdSec * 1000;
  const samples: SliSample[] = [await sample()];
  let announcedExtension = false;
  let announcedHold = false;
  const synthetic = startSyntheticRuns(deps, params, target, signal);
  try {
    for (let tick = 0; tick < 1_000_000; tick += 1) {
      const nextAt = start + (tick + 1) * params.sampleIntervalMs;
      await sleep(Math.max(0, nextAt - ctx.clock.now().getTime()), signal);
      await checkHalted();
      if (ctx.signal.aborted) throw new SidecarError('DEPENDENCY_DOWN', 'the sidecar is shutting down', {});
      samples.push(await sample());
      const now = ctx.clock.now().getTime();
      const final = now >= windowEnd;
      // The window is not judged a pass before one synthetic transaction has ended (each is bounded by its timeout).
      if (final) await synthetic.settled();
      const figures = withSynthetic(windowFigures(samples), synthetic.outcomes());
      const verdict = judge(triggers, figures, params.minSamples, final);
      if (verdict === null) continue;
      if (verdict.kind !== 'insufficient') return { verdict, windowSec: Math.round((now - start) / 100) / 10, samples: samples.length, decidedAt: now };
      if (now < extendedEnd) {
        if (!announcedExtension) {
          announcedExtension = true;
          ctx.progress({ phase: `step-${percent}`, message: `window at ${percent}% saw only ${figures.requests} of ${params.minSamples} requests needed; extending up to ${(extendedEnd - start) / 1000}s`, step: percent, figures });
        }
        continue;
      }
      if (params.onInsufficientSamples === 'hold' && now < holdEnd) {
        if (!announcedHold) {
          announcedHold = true;
          ctx.progress({ phase: `step-${percent}`, message: `holding at ${percent}%: ${figures.requests} of ${params.minSamples} requests; waiting up to ${params.holdSec}s more for traffic before rolling back`, step: percent, figures });
        }
        continue;
      }
      return { verdict, windowSec: Math.round((now - start) / 100) / 10, samples: samples.length, decidedAt: now };
    }
  } finally {
    synthetic.stop();
  }
  throw new SidecarError('TIMEOUT', 'validation window did not end', {});
}

/**
 * Synthetic transactions on the target for one window: the first at once, then one after
 * another at most every half window, until the window is judged (stop()) or one fails.
 */
function startSyntheticRuns(
  deps: TrafficDeps,
  params: TrafficSwitchParams,
  target: EnvironmentName,
  signal: AbortSignal,
): { outcomes(): SyntheticOutcome[] | null; settled(): Promise<void>; stop(): void } {
  const team = deps.teamConfig?.(params.team);
  if (!deps.synthetic || !team) return { outcomes: () => null, settled: async () => undefined, stop: () => undefined };
  const check = deps.synthetic;
  const windowDone = new AbortController();
  const both = AbortSignal.any([signal, windowDone.signal]);
  const done: SyntheticOutcome[] = [];
  let configured = true;
  let firstIn: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (firstIn = resolve));
  const everyMs = Math.max(1000, (params.validationSec * 1000) / 2);
  const loop = async (): Promise<void> => {
    for (let i = 0; i < 1000 && !both.aborted; i += 1) {
      const started = Date.now();
      const r = await check.run(team, target, both);
      if (r === null) {
        configured = false;
        return;
      }
      // A transaction cut short because the window ended says nothing about the target.
      if (windowDone.signal.aborted) return;
      done.push(r);
      firstIn();
      if (!r.ok) return; // one failure decides the window
      await realSleep(Math.max(0, everyMs - (Date.now() - started)), both);
    }
  };
  void loop().finally(() => firstIn());
  return {
    outcomes: () => (configured ? [...done] : null),
    settled: () => first,
    stop: () => windowDone.abort(),
  };
}

async function drainOld(
  deps: TrafficDeps,
  params: TrafficSwitchParams,
  ctx: OperationContext,
  tb: TeamBackends,
  source: EnvironmentName,
  sleep: (ms: number, s?: AbortSignal) => Promise<void>,
  signal: AbortSignal,
  checkHalted: () => Promise<void>,
): Promise<{ sessionsAtMaint: number; waitedMs: number }> {
  const opId = ctx.operation.id;
  const server = tb.servers[source];
  const seq = await deps.store.journal.intent(opId, 'drain-old', { server, timeoutSec: params.drainTimeoutSec });
  await deps.haproxy.setState(tb.web, server, 'drain');
  ctx.progress({ phase: 'drain', message: `draining ${server}: people pinned to it moved at 100%; waiting for its open requests to end (up to ${params.drainTimeoutSec}s)` });
  const started = ctx.clock.now().getTime();
  let sessions = 0;
  for (;;) {
    sessions = (await deps.haproxy.showStat()).filter((s) => s.server === server && tb.backends.includes(s.backend)).reduce((n, s) => n + s.scur, 0);
    if (sessions === 0 || ctx.clock.now().getTime() - started >= params.drainTimeoutSec * 1000 || signal.aborted) break;
    await sleep(200, signal);
  }
  // An emergency rollback may have sent traffic back to this side meanwhile: never maint it then.
  await checkHalted();
  await deps.haproxy.setState(tb.web, server, 'maint');
  const waitedMs = ctx.clock.now().getTime() - started;
  await deps.store.journal.outcome(opId, seq, 'done', { state: 'maint', sessionsAtMaint: sessions, waitedMs });
  return { sessionsAtMaint: sessions, waitedMs };
}

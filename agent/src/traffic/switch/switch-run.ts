import { switchSteps, type TrafficSwitchParams } from '../../../../catalog/methods/traffic';
import type { EnvironmentName, Team } from '../../../../catalog/teams-file';
import { parseTriggers, type Trigger } from '../../../../catalog/triggers';
import { LeftForRecovery } from '../../operations/left-for-recovery';
import { isSidecarError, SidecarError } from '../../sidecar-error';
import type { ServerState, ServerStat } from '../../haproxy/stats';
import { lockNameFor, type OperationContext, type TeamEnvironmentState } from '../../store/contract';
import { otherEnvironment } from '../../../../catalog/teams-file';
import type { TeamBackends, Weights } from '../team-backends';
import type { TrafficDeps } from '../traffic-deps';
import { applyWeights } from '../weights';
import type { WeightStepName } from '../journal-steps';
import type { SwitchControl } from './control';
import type { SwitchHooks } from './hooks';
import { transition, type SwitchPhase } from './phase';
import { drainOld } from './phases/drain-old';
import { endFailedSwitch } from './phases/end-failed';
import { prepareTarget } from './phases/prepare-target';
import { promote } from './phases/promote';
import { runStep } from './phases/step';
import type { ResumePoint } from './resume-point';
import { alreadyPast, resumeMidway } from './resume-run';
import { SwitchReport, type StepRecord, type SwitchResult } from './types';
import { Halted } from './types';

/**
 * One traffic.switch as a state machine. Its fields are the switch's state
 * (phase, current percent, weights last applied, whether anything moved or was
 * rolled back, owed records, the steps so far); its phases are one module each
 * under phases/: prepare the target, step (move + validate the window), drain
 * the old side, promote, roll back, and end a failed switch. The phase moves
 * are checked against one table (phase.ts).
 *
 * Other concerns act at the phase ends through SwitchHooks (hooks.ts); a
 * person's pause/promote/abort reaches the run through SwitchControl
 * (control.ts), consulted before each step and between samples.
 */
export interface SwitchSetup {
  /** environment_state as read before the switch began. */
  state: TeamEnvironmentState;
  tb: TeamBackends;
  serversState: ServerState[];
  config: Team | undefined;
}

/** A run that does not start at the beginning. */
export interface SwitchRunOptions {
  /** Resumed after a restart where its journal left it (resume-point.ts): no preparation, the steps done are skipped. */
  resumeAt?: ResumePoint;
  /** Who started the switch, when the run's context is not theirs (a resumed run's is the recovery's). */
  initiatedBy?: string;
}

export class SwitchRun {
  phase: SwitchPhase = 'checking';
  /** The step being moved to or validated; null before the first. */
  percent: number | null = null;
  lastApplied: Weights;
  /** Set once a weight change was applied: before that a failure is just an error (nothing to undo). */
  moved = false;
  /** Set once the rollback has moved the traffic back: its error is final. */
  rolledBack = false;
  /** Set when the rollback reached HAProxy but not Postgres: its records (and the operation's end) are owed. */
  rollbackDeferred: string | null = null;
  /** Set when a store call found the database unreachable: the rollback then applies to HAProxy without trying it again. */
  databaseDown: string | null = null;
  readonly steps: StepRecord[] = [];
  /** What the hooks did, for the result and the audit records. */
  readonly report = new SwitchReport();
  /** Set by a person's full promotion: the next step goes straight to 100%. */
  fullPromotion = false;
  readonly team: string;
  readonly target: EnvironmentName;
  readonly source: EnvironmentName;
  readonly opId: string;
  readonly triggers: Trigger[];
  readonly initiatedBy: string;
  /** Fires on an emergency stop in this process. */
  readonly haltSignal: AbortSignal;
  /** Either the runner (shutdown) or an emergency stop ends the waits early. */
  readonly signal: AbortSignal;
  private readonly registration: { signal: AbortSignal; done(): void };

  constructor(
    readonly deps: TrafficDeps,
    readonly params: TrafficSwitchParams,
    readonly ctx: OperationContext,
    readonly setup: SwitchSetup,
    readonly hooks: SwitchHooks,
    readonly control: SwitchControl,
    readonly options: SwitchRunOptions = {},
  ) {
    this.team = params.team;
    this.target = params.target;
    this.source = otherEnvironment(params.target);
    this.opId = ctx.operation.id;
    this.triggers = parseTriggers(params.triggers);
    this.initiatedBy = options.initiatedBy ?? ctx.actor.build ?? ctx.actor.tokenId;
    const resumed = options.resumeAt;
    this.lastApplied = { ...(resumed?.weights ?? setup.state.weights) };
    this.moved = resumed?.weights != null;
    this.fullPromotion = resumed?.full ?? false;
    // From here an emergency rollback in this process can halt the switch at once.
    this.registration = deps.inFlight.register(this.team, this.opId);
    this.haltSignal = this.registration.signal;
    this.signal = AbortSignal.any([ctx.signal, this.haltSignal]);
  }

  get tb(): TeamBackends {
    return this.setup.tb;
  }

  enter(to: SwitchPhase): void {
    this.phase = transition(this.phase, to);
  }

  async run(): Promise<SwitchResult> {
    try {
      const resumed = this.options.resumeAt;
      if (resumed) await resumeMidway(this, resumed);
      else await this.prepare();
      for (const step of switchSteps(this.params)) {
        if (resumed && alreadyPast(resumed, step.percent)) continue;
        await runStep(this, this.fullPromotion ? 100 : step.percent);
        if (this.percent === 100) break;
      }
      await this.hooks.beforeDrain(this);
      this.enter('draining');
      const drained = await drainOld(this);
      return await promote(this, drained);
    } catch (caught) {
      throw await endFailedSwitch(this, caught);
    } finally {
      this.control.release();
      this.registration.done();
    }
  }

  private async prepare(): Promise<void> {
    this.enter('preparing');
    await this.hooks.starting(this);
    await prepareTarget(this);
    await this.hooks.targetReady(this);
  }

  /** Throws Halted once an emergency stop (here, or through Postgres from another sidecar) took over. */
  async checkHalted(): Promise<void> {
    if (this.haltSignal.aborted) throw new Halted(this.haltReason());
    const now = await this.deps.store.environments.get(this.team);
    if (now && !sameWeights(now.weights, this.lastApplied)) {
      throw new Halted(`desired weights for ${this.team} changed to ${JSON.stringify(now.weights)} outside this switch (emergency rollback?)`);
    }
  }

  haltReason(): string {
    return String((this.haltSignal.reason as Error | undefined)?.message ?? 'emergency stop');
  }

  /** The runner's shutdown ends the switch (after the first move: a rollback). */
  assertNotShuttingDown(): void {
    if (!this.ctx.signal.aborted) return;
    // A switch a person holds stays held: the next start's recovery resumes it paused (recovery.ts).
    if (this.phase === 'paused') {
      throw new LeftForRecovery(`the sidecar is stopping; the switch of ${this.team} stays paused at ${this.percent ?? 0}% and the next start of this sidecar resumes it paused (operation.attach follows it then)`, { team: this.team, percent: this.percent });
    }
    throw new SidecarError('DEPENDENCY_DOWN', 'the sidecar is shutting down', {});
  }

  /**
   * Fencing during the switch: once another owner holds the lock (a newer token), this switch is
   * stale and must stop; a lease that merely ran out with nobody else holding it does not stop
   * a switch halfway (that would leave traffic split).
   */
  async checkFence(): Promise<void> {
    const { locks } = this.deps.store;
    try {
      await locks.assertHeld({ team: this.team, operation: this.params.lockOperation, token: this.params.lockToken });
    } catch (err) {
      if (!(isSidecarError(err) && err.code === 'FENCED')) throw err;
      const name = lockNameFor(this.team, this.params.lockOperation);
      const now = this.ctx.clock.now().getTime();
      const other = (await locks.list({ team: this.team })).find((l) => l.lockName === name && l.token !== this.params.lockToken && l.expiresAt.getTime() > now);
      if (other) throw err;
    }
  }

  async targetStat(): Promise<ServerStat> {
    const stats = await this.deps.haproxy.showStat();
    const s = stats.find((x) => x.backend === this.tb.web && x.server === this.tb.servers[this.target]);
    if (!s) throw new SidecarError('NOT_FOUND', `HAProxy no longer has ${this.tb.web}/${this.tb.servers[this.target]}`, { team: this.team });
    return s;
  }

  /** Both weights, journaled (weights.ts); a move toward the last known good side may owe its records. */
  async move(weights: Weights, why: { name: WeightStepName; [k: string]: unknown }, towardLastKnownGood = false): Promise<void> {
    this.moved = true;
    const { haproxy, store, deferred } = this.deps;
    const applied = await applyWeights({ haproxy, journal: store.journal, environments: store.environments, deferred }, this.opId, this.tb, weights, why, undefined, {
      towardLastKnownGood,
      ...(this.databaseDown ? { databaseDown: this.databaseDown } : {}),
    });
    this.lastApplied = weights;
    if (applied.deferred) this.rollbackDeferred = applied.databaseError ?? 'Postgres unreachable';
  }

  /** The operation's end, owed to Postgres with the rollback's records when the database was away. */
  owed(e: unknown): unknown {
    if (this.rollbackDeferred && this.deps.deferred.canOwe && isSidecarError(e)) this.deps.deferred.finish(this.team, this.opId, 'rolled_back', { code: e.code, message: e.message, data: e.data });
    return e;
  }

  /** The step's notification; its failure is only logged. */
  notify(event: 'step' | 'promoted' | 'paused' | 'resumed', payload: Record<string, unknown>): void {
    this.deps.webhooks.notify(this.team, event, { operationId: this.opId, ...payload }).catch((e: unknown) => this.deps.log.warn(`${event} webhook failed`, { team: this.team, error: String(e) }));
  }
}

const sameWeights = (a: Weights, b: Weights): boolean => a.blue === b.blue && a.green === b.green;

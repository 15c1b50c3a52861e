import { switchSteps, type TrafficSwitchParams } from '../../../../catalog/methods/traffic';
import type { JournalStep, OperationRecord } from '../../store/contract';
import { JOURNAL_STEP, type JournalStepName } from '../journal-steps';
import type { Weights } from '../team-backends';
import { pauseEndsAt, type Hold } from './control';

/**
 * Where a paused switch stood when its sidecar died, read back from its journal, so a restarted
 * (or adopting) sidecar resumes it paused instead of rolling it back:
 * - `window`: `percent`'s weights were applied and its window had not ended: a fresh window at
 *   `percent` runs, held, then the steps after it;
 * - `step`: the pause held the switch before `percent`'s move (the previous window passed, or
 *   nothing moved yet: then `weights` is null and the desired weights stand).
 */
export interface ResumePoint {
  percent: number;
  at: 'window' | 'step';
  /** The weights the last completed move applied (null: no move yet). */
  weights: Weights | null;
  /** The pause as journaled: since, by, reason, maxPauseSec, and the gate's percent for an approval gate. */
  hold: Hold;
  /** A person's full promotion was asked for and not yet consumed by a move to 100%. */
  full: boolean;
}

/** Steps after which the switch is no longer somewhere a pause can hold it. */
const ENDING_STEPS: ReadonlySet<string> = new Set<JournalStepName>([
  JOURNAL_STEP.rollback,
  JOURNAL_STEP.drainOld,
  JOURNAL_STEP.promote,
  JOURNAL_STEP.emergencyWeights,
  JOURNAL_STEP.recoveryPromote,
  JOURNAL_STEP.recoveryWeights,
  JOURNAL_STEP.recoveryRollback,
]);

const CONTROL_VERBS = new Set(['pause', 'resume', 'promote', 'abort']);

const findLast = (steps: JournalStep[], pred: (s: JournalStep) => boolean): JournalStep | undefined => [...steps].reverse().find(pred);

const isWeights = (w: unknown): w is Weights =>
  typeof w === 'object' && w !== null && Number.isInteger((w as Weights).blue) && Number.isInteger((w as Weights).green);

/**
 * The pause a control step's intent describes: a person's `pause`, or (any verb carrying a numeric
 * `gate`) the hold of an approval gate, which the run treats as a pause. Null for anything else.
 */
export function holdOf(intent: Record<string, unknown>): Hold | null {
  const gate = typeof intent.gate === 'number' ? intent.gate : undefined;
  if (intent.verb !== 'pause' && gate === undefined) return null;
  const since = new Date(String(intent.at));
  if (Number.isNaN(since.getTime())) return null;
  const maxPauseSec = typeof intent.maxPauseSec === 'number' && intent.maxPauseSec > 0 ? intent.maxPauseSec : undefined;
  return {
    by: String(intent.by ?? 'unknown'),
    reason: String(intent.reason ?? ''),
    since,
    ...(maxPauseSec !== undefined ? { maxPauseSec } : {}),
    ...(gate !== undefined ? { gate } : {}),
  };
}

/**
 * The resume point of an unfinished traffic.switch whose last say of a person was a pause (not
 * followed by resume, promote or abort), or null when it was not paused or the journal does not
 * say for certain where the weights are (a move cut short, a failed window, a rollback begun).
 */
export function resumePointOf(op: Pick<OperationRecord, 'steps'>, params: Pick<TrafficSwitchParams, 'increments' | 'approvalAt'>): ResumePoint | null {
  const { steps } = op;
  if (steps.some((s) => ENDING_STEPS.has(s.name))) return null;
  const control = findLast(steps, (s) => s.name === JOURNAL_STEP.control && (CONTROL_VERBS.has(String(s.intent.verb)) || typeof s.intent.gate === 'number'));
  const hold = control ? holdOf(control.intent) : null;
  if (!control || !hold) return null;
  const planned = switchSteps(params).map((s) => s.percent);
  const moved = findLast(steps, (s) => s.name === JOURNAL_STEP.weights);
  // Asked for and not yet consumed: no move to 100% since.
  const full = steps.some((s) => s.name === JOURNAL_STEP.control && s.intent.verb === 'promote' && s.intent.full === true && (!moved || s.seq > moved.seq));
  if (!moved) return { percent: planned[0]!, at: 'step', weights: null, hold, full };
  const weights = moved.intent.weights;
  const percent = Number(moved.intent.step);
  if (moved.outcome !== 'done' || !isWeights(weights) || !planned.includes(percent) && percent !== 100) return null;
  const window = findLast(steps, (s) => s.name === JOURNAL_STEP.validate && s.seq > moved.seq && Number(s.intent.step) === percent);
  if (!window || window.outcome === 'pending') return { percent, at: 'window', weights, hold, full };
  if (window.outcome !== 'done') return null;
  // The window passed: held before the next step's move (a passed 100% window is not a pause: recovery promotes it).
  const next = full ? 100 : planned.find((p) => p > percent);
  return next === undefined ? null : { percent: next, at: 'step', weights, hold, full };
}

export { pauseEndsAt };

/** True once a pause's maximum ran out (e.g. while the sidecar was down). */
export const pauseExpired = (hold: Hold, now: Date): boolean => {
  const ends = pauseEndsAt(hold);
  return ends !== null && now.getTime() >= ends.getTime();
};

/**
 * The phases of a traffic switch and the moves between them, in one table.
 * A switch begins `checking` (preconditions: nothing changed yet) and ends in
 * one of the terminal phases. `rolling-back` may be entered again: a rollback
 * whose own move failed is retried once as a rollback of a failed switch.
 * `paused` is a person's hold (SwitchControl): entered from a step or a window
 * and left back to it; a breach while paused still rolls back. `halted` is an
 * emergency stop from outside; `aborted` a person's abort that keeps the weights.
 * A run resumed after a sidecar restart (resume-run.ts) starts `checking` and goes
 * straight to `paused`: the journal said a person held it, and it is held again.
 */
export const SWITCH_PHASES = ['checking', 'preparing', 'stepping', 'validating', 'paused', 'draining', 'promoting', 'promoted', 'rolling-back', 'rolled-back', 'halted', 'aborted', 'failed'] as const;

export type SwitchPhase = (typeof SWITCH_PHASES)[number];

export const TERMINAL_PHASES: ReadonlySet<SwitchPhase> = new Set(['promoted', 'rolled-back', 'halted', 'aborted', 'failed']);

const TRANSITIONS: Readonly<Record<SwitchPhase, readonly SwitchPhase[]>> = {
  // Already at 100% on the target: promoted without moving anything.
  // Found paused in the journal after a restart: held again where it was, nothing prepared anew.
  checking: ['preparing', 'promoted', 'paused', 'failed'],
  // The target is not ready: nothing moved yet, so it ends as an error, not a rollback.
  preparing: ['stepping', 'halted', 'failed'],
  // Before the first move a failure is an error; after it, a rollback.
  stepping: ['validating', 'paused', 'rolling-back', 'halted', 'aborted', 'failed'],
  validating: ['stepping', 'draining', 'paused', 'rolling-back', 'halted', 'aborted'],
  // Back to the step or window it held; the run's other ends stay open meanwhile.
  paused: ['stepping', 'validating', 'rolling-back', 'halted', 'aborted', 'failed'],
  draining: ['promoting', 'rolling-back', 'halted'],
  promoting: ['promoted', 'rolling-back', 'halted'],
  'rolling-back': ['rolling-back', 'rolled-back', 'halted', 'failed'],
  promoted: [],
  'rolled-back': [],
  halted: [],
  aborted: [],
  failed: [],
};

export const canTransition = (from: SwitchPhase, to: SwitchPhase): boolean => TRANSITIONS[from].includes(to);

/** `to` when the table allows it; an illegal move is a programming mistake and throws. */
export function transition(from: SwitchPhase, to: SwitchPhase): SwitchPhase {
  if (!canTransition(from, to)) throw new Error(`internal: a traffic switch cannot go from ${from} to ${to}`);
  return to;
}

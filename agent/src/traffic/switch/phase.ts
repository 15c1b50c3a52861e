/**
 * The phases of a traffic switch and the moves between them, in one table.
 * A switch begins `checking` (preconditions: nothing changed yet) and ends in
 * one of the terminal phases. `rolling-back` may be entered again: a rollback
 * whose own move failed is retried once as a rollback of a failed switch.
 *
 * A person-in-the-loop state (`paused`) fits between `validating` and its
 * neighbours: add it here, and SwitchControl.checkpoint (control.ts) is where
 * the run waits in it.
 */
export const SWITCH_PHASES = ['checking', 'preparing', 'stepping', 'validating', 'draining', 'promoting', 'promoted', 'rolling-back', 'rolled-back', 'halted', 'failed'] as const;

export type SwitchPhase = (typeof SWITCH_PHASES)[number];

export const TERMINAL_PHASES: ReadonlySet<SwitchPhase> = new Set(['promoted', 'rolled-back', 'halted', 'failed']);

const TRANSITIONS: Readonly<Record<SwitchPhase, readonly SwitchPhase[]>> = {
  // Already at 100% on the target: promoted without moving anything.
  checking: ['preparing', 'promoted', 'failed'],
  // The target is not ready: nothing moved yet, so it ends as an error, not a rollback.
  preparing: ['stepping', 'halted', 'failed'],
  // Before the first move a failure is an error; after it, a rollback.
  stepping: ['validating', 'rolling-back', 'halted', 'failed'],
  validating: ['stepping', 'draining', 'rolling-back', 'halted'],
  draining: ['promoting', 'rolling-back', 'halted'],
  promoting: ['promoted', 'rolling-back', 'halted'],
  'rolling-back': ['rolling-back', 'rolled-back', 'halted', 'failed'],
  promoted: [],
  'rolled-back': [],
  halted: [],
  failed: [],
};

export const canTransition = (from: SwitchPhase, to: SwitchPhase): boolean => TRANSITIONS[from].includes(to);

/** `to` when the table allows it; an illegal move is a programming mistake and throws. */
export function transition(from: SwitchPhase, to: SwitchPhase): SwitchPhase {
  if (!canTransition(from, to)) throw new Error(`internal: a traffic switch cannot go from ${from} to ${to}`);
  return to;
}

import type { SwitchRun } from './switch-run';

/** Who asked, and why (audited with the command). */
export interface ControlActor {
  by: string;
  reason: string;
}

export interface Hold extends ControlActor {
  since: Date;
  /** After this long without a resume the pause ends in a rollback (SwitchControls fills in the team's default). */
  maxPauseSec?: number;
  /** Set when the switch itself paused at an approval gate: the step (percent) waiting for a person. */
  gate?: number;
}

/**
 * What a person's say means for the run at a checkpoint:
 * - `continue`: go on by itself;
 * - `hold`: paused — keep the weights (in a window: keep sampling and judging, a breach still
 *   rolls back, but the window does not end);
 * - `end-window`: promote — the current window ends now as a pass unless it breached; `full`
 *   also moves the next step straight to 100%;
 * - `abort`: end now — `hold` leaves the weights where they are (the operation ends aborted),
 *   otherwise the switch rolls back;
 * - `pause-expired`: nobody resumed within the hold's maxPauseSec — the switch rolls back
 *   (before its first move it just ends: there is nothing to undo).
 */
export type ControlDecision =
  | { kind: 'continue' }
  | { kind: 'hold'; hold: Hold }
  | ({ kind: 'end-window'; full: boolean } & ControlActor)
  | ({ kind: 'abort'; hold: boolean } & ControlActor)
  | { kind: 'pause-expired'; hold: Hold & { maxPauseSec: number }; reason: string };

/** Before a step's move, or between two samples of a window. */
export type Checkpoint = 'step' | 'window';

/**
 * A person's say in a running switch. The run consults it before each step and
 * between the samples of every window (switch/phases/step.ts, validate-window.ts)
 * and releases it when it ends.
 */
export interface SwitchControl {
  checkpoint(run: SwitchRun, where: Checkpoint): ControlDecision;
  /**
   * The switch reached a step that waits for a person (an approval gate): from now the control
   * holds it as a pause (hold.gate = percent) until traffic.resume / promote / abort. Answers the
   * hold in effect — `fresh` when this call made it (to be journaled), not when the switch was
   * already held (a person's pause, or the same gate's hold resumed after a restart) — or null
   * when a person's promotion or abort already stands (the next checkpoint says what).
   */
  awaitApproval(hold: Hold): { hold: Hold; fresh: boolean } | null;
  release(): void;
}

const goOn: ControlDecision = { kind: 'continue' };

/** Nobody in the loop: the switch runs on by itself, and one with approval gates cannot start. */
export const noSwitchControl: SwitchControl = {
  checkpoint: () => goOn,
  awaitApproval: () => {
    throw new Error('internal: a switch with approval gates needs a SwitchControl (SwitchControls.attach)');
  },
  release: () => undefined,
};

/** When a hold ends by itself (its maxPauseSec after its start); null for a hold without one. */
export function pauseEndsAt(hold: Hold): Date | null {
  return hold.maxPauseSec ? new Date(hold.since.getTime() + hold.maxPauseSec * 1000) : null;
}

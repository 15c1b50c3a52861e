import type { SwitchRun } from './switch-run';

/**
 * A person's say in a running switch. The run consults it before each step
 * and between the samples of every window; `checkpoint` may wait there (a
 * paused switch keeps its weights) and then tells the run how to go on.
 * Only `continue` exists today; promote/abort decisions extend this union and
 * the places that read it (switch-run.ts step(), validate-window.ts).
 */
export type ControlDecision = { kind: 'continue' };

export interface SwitchControl {
  checkpoint(run: SwitchRun): Promise<ControlDecision>;
}

const goOn: ControlDecision = { kind: 'continue' };

/** Nobody in the loop: the switch runs on by itself. */
export const noSwitchControl: SwitchControl = { checkpoint: async () => goOn };

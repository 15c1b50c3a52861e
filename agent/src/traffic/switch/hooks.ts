import type { WindowFigures } from '../sli';
import type { SwitchRun } from './switch-run';

/**
 * The points at the end of a switch's phases where other traffic concerns
 * (agents following the switch, queued triggers, what stayed behind) act.
 * Each runs inside the switch: a hook that throws fails the switch like any
 * other error there (after the first move: a rollback), so a hook that only
 * observes catches its own errors.
 */
export interface SwitchHooks {
  /** Nothing has moved and the target is not yet made ready (a reload of it here costs nobody). */
  starting(run: SwitchRun): Promise<void>;
  /** The target is UP and ready; no weight has moved yet. */
  targetReady(run: SwitchRun): Promise<void>;
  /** Both weights of `percent` are applied; its window is next. */
  stepApplied(run: SwitchRun, percent: number): Promise<void>;
  /** `percent`'s window passed. */
  stepValidated(run: SwitchRun, percent: number, figures: WindowFigures): Promise<void>;
  /** 100% validated; the old side is drained next. */
  beforeDrain(run: SwitchRun): Promise<void>;
  /** environment_state names the target active; the breaker and audit records follow. */
  promoted(run: SwitchRun): Promise<void>;
  /** All traffic is back on the source (`reason` as audited); the records follow. Must not throw. */
  rolledBack(run: SwitchRun, reason: string): Promise<void>;
}

const nothing = async (): Promise<void> => undefined;

export const noSwitchHooks: SwitchHooks = { starting: nothing, targetReady: nothing, stepApplied: nothing, stepValidated: nothing, beforeDrain: nothing, promoted: nothing, rolledBack: nothing };

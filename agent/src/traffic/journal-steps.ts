/**
 * The names of the journal steps traffic operations write. Recovery reads a
 * dead sidecar's journal back by these names (recovery.ts), so the switch, the
 * emergency stop, weights.ts and the owed-writes queue all take them from here:
 * renaming one is then a single edit, and a typo is a type error.
 */
export const JOURNAL_STEP = {
  /** The target's server set ready from maint/drain before it gets weight. */
  prepareTarget: 'prepare-target',
  /** One progressive move of both weights. */
  weights: 'weights',
  /** The validation window of one step; its result carries `step` (the percent). */
  validate: 'validate',
  /** The old side drained, then set maint. */
  drainOld: 'drain-old',
  /** environment_state names the target active: the switch's point of no return. */
  promote: 'promote',
  /** All traffic back on the source after a breach or a failure. */
  rollback: 'rollback',
  /**
   * A person's pause / resume / promote / abort of the switch (traffic-control methods), journaled
   * in the switch's own operation: intent {verb, by, reason, at, maxPauseSec?, full?, hold?}.
   * An approval gate journals its own pause the same way, by 'approval gate' with `gate` (the
   * percent of the step it holds; switch/phases/gate.ts). Recovery reads the last one back to
   * resume a paused switch paused.
   */
  control: 'control',
  /** rollback.emergency's move. */
  emergencyWeights: 'emergency-weights',
  /** Startup recovery completing a switch validated at 100%. */
  recoveryPromote: 'recovery-promote',
  recoveryWeights: 'recovery-weights',
  /** Startup recovery putting an interrupted switch back on the last known good side. */
  recoveryRollback: 'recovery-rollback',
  /** Startup recovery re-applying an interrupted emergency rollback. */
  recoveryEmergency: 'recovery-emergency',
} as const;

export type JournalStepName = (typeof JOURNAL_STEP)[keyof typeof JOURNAL_STEP];

/** The steps that move weights (applyWeights journals them). */
export type WeightStepName = Extract<JournalStepName, 'weights' | 'rollback' | 'emergency-weights' | 'recovery-weights' | 'recovery-rollback' | 'recovery-emergency'>;

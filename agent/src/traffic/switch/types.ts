import type { EnvironmentName } from '../../../../catalog/teams-file';
import type { WindowFigures } from '../sli';
import type { Weights } from '../team-backends';

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
}

/** Aborted by a person with `hold`: stop where the weights are, without touching them. */
export class Aborted extends Error {
  constructor(
    readonly by: string,
    readonly why: string,
  ) {
    super(why);
  }
}

/** Halted from outside (emergency rollback here or in another sidecar): stop without touching weights. */
export class Halted extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

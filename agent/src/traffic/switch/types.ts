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

/** Halted from outside (emergency rollback here or in another sidecar): stop without touching weights. */
export class Halted extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

import type { EnvironmentName } from '../../../../catalog/teams-file';
import type { PreSwitchSync } from '../../environments/pre-switch-sync';
import type { StayedBehindReport } from '../../environments/stayed-behind';
import type { AgentHandoverReport } from '../agent-handover';
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
  /** Inbound agents moved off the old side after promotion (null: no REST client or teams-file entry). */
  agents?: AgentHandoverReport | null;
  /** What bringing the target up to date before it got traffic did (absent when not configured). */
  synced?: PreSwitchSync;
}

/** What the switch's hooks did (concern-hooks.ts); each field stays undefined when its concern is off. */
export class SwitchReport {
  agents?: AgentHandoverReport | null;
  synced?: PreSwitchSync;
  stayedBehind?: StayedBehindReport | null;

  forResult(): Pick<SwitchResult, 'agents' | 'synced'> {
    return { ...(this.agents !== undefined ? { agents: this.agents } : {}), ...(this.synced !== undefined ? { synced: this.synced } : {}) };
  }
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

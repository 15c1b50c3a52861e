import { BACKUP_STEPS } from './backup';
import { TEAM_PARAM } from './common-params';
import { COORDINATION_STEPS } from './coordination';
import { ENVIRONMENT_STEPS } from './environment';
import { LOCK_STEPS } from './locks';
import { bindStep } from './method-binding';
import type { StepParam, StepSpec } from './step-spec';
import { TRAFFIC_STEPS } from './traffic';

export type { JsonValue, StepParam, StepParamType, StepSpec } from './step-spec';
export { VALIDATION_CHECKS } from './environment';
export { OPERATION_PATTERN, TEAM_PARAM } from './common-params';

/** Every step of the generated library, sorted by name (the order of docs and output). */
export const STEPS: readonly StepSpec[] = [...COORDINATION_STEPS, ...LOCK_STEPS, ...ENVIRONMENT_STEPS, ...TRAFFIC_STEPS, ...BACKUP_STEPS]
  .map(bindStep)
  .sort((a, b) => a.name.localeCompare(b.name));

/** The step's parameters as a pipeline may pass them: its own, then `team` when it takes one. */
export function stepParams(step: StepSpec): StepParam[] {
  return step.team ? [...step.params, TEAM_PARAM] : [...step.params];
}

export function findStep(name: string): StepSpec | undefined {
  return STEPS.find((s) => s.name === name);
}

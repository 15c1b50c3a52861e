import { switchSteps, type TrafficSwitchParams } from '../../../../catalog/methods/traffic';
import type { EnvironmentName } from '../../../../catalog/teams-file';
import { parseTriggers, type Trigger } from '../../../../catalog/triggers';
import { splitWeights, type Weights } from '../team-backends';

/**
 * The pure part of a plan: the steps a switch with these params takes, how long
 * each window may last and what judges it, and the whole switch's duration
 * bounds. Read from the same rules the run follows (switch/switch-run.ts,
 * phases/validate-window.ts, phases/drain-old.ts), so the plan and the run agree.
 */
export type PlanParams = Pick<
  TrafficSwitchParams,
  'increments' | 'approvalAt' | 'validationSec' | 'maxWindowSec' | 'minSamples' | 'onInsufficientSamples' | 'holdSec' | 'triggers' | 'readyTimeoutSec' | 'drainTimeoutSec'
>;

export interface PlannedStep {
  percent: number;
  weights: Weights;
  gate: boolean;
  windowSec: { min: number; max: number };
  judgedBy: string[];
}

const UNIT: Record<Trigger['metric'], string> = { error_rate: '%', response_time: 'ms', availability: '%', cpu_usage: '%', memory_usage: '%' };
const MEANING: Record<Trigger['metric'], string> = {
  error_rate: '5xx and connection errors per request on the target in the window',
  response_time: "HAProxy's mean response time of the target in the window",
  availability: 'share of samples whose health check said UP',
  cpu_usage: "the target container's CPU, from Docker stats",
  memory_usage: "the target container's memory, from Docker stats",
};

/** One trigger as a person reads it: `error_rate > 2% (5xx and ... ; counted from minSamples requests)`. */
export function triggerText(t: Trigger, minSamples: number): string {
  const requestBased = t.metric === 'error_rate' || t.metric === 'response_time';
  const counted = requestBased && minSamples > 0 ? `; judged once the window has ${minSamples} requests` : '';
  return `${t.metric} ${t.operator} ${t.threshold}${UNIT[t.metric]} (${MEANING[t.metric]}${counted})`;
}

/**
 * A window passes no earlier than validationSec; short of minSamples (or with the target holding
 * sessions it does not answer) it is extended up to maxWindowSec (default 3 × validationSec),
 * then, with onInsufficientSamples 'hold', up to holdSec more (validate-window.ts).
 */
export function windowBounds(p: PlanParams): { min: number; max: number } {
  const extended = Math.max(p.validationSec, p.maxWindowSec ?? p.validationSec * 3);
  return { min: p.validationSec, max: extended + (p.onInsufficientSamples === 'hold' ? p.holdSec : 0) };
}

export function planSteps(p: PlanParams, target: EnvironmentName): PlannedStep[] {
  const judgedBy = [...parseTriggers(p.triggers).map((t) => triggerText(t, p.minSamples)), 'any failed synthetic Jenkins transaction (when the sidecar runs them)'];
  const windowSec = windowBounds(p);
  return switchSteps(p).map((s) => ({ percent: s.percent, weights: splitWeights(target, s.percent), gate: s.approve, windowSec, judgedBy }));
}

/**
 * The whole switch, from the first check to the promotion: min = every window passing at its
 * first chance and nothing to wait for; max = every wait at its bound (the target's readiness,
 * each window, the drain, the agents' move after promotion: up to drainTimeoutSec for their builds
 * to end, then as long again for them to arrive, agent-handover.ts). A gate waits for a person: no max.
 */
export function planDuration(p: PlanParams, steps: readonly PlannedStep[], opts: { targetReady: boolean; agentsMove: boolean }): { min: number; max: number | null } {
  const min = steps.reduce((n, s) => n + s.windowSec.min, 0);
  if (steps.some((s) => s.gate)) return { min, max: null };
  const waits = (opts.targetReady ? 0 : p.readyTimeoutSec) + p.drainTimeoutSec + (opts.agentsMove ? 2 * p.drainTimeoutSec : 0);
  return { min, max: steps.reduce((n, s) => n + s.windowSec.max, 0) + waits };
}

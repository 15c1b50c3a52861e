import { z } from 'zod';
import { environmentName, isoTime, weightsResult } from './result-shapes';

/** A person's say in the switch as it stands (switch-control.ts ControlState). */
export const CONTROL_STATES = ['running', 'paused', 'promote-requested', 'abort-requested'] as const;

/**
 * The team's running switch as traffic.status and environment.status show it (null when none runs):
 * where it is, and whether a person (or an approval gate) holds it. Read from the journal (the
 * switch's operation, its weights steps and its `control` steps), so every sidecar and the
 * dashboard see the same, also after a restart.
 */
export const runningSwitchResult = z.object({
  operationId: z.string(),
  target: environmentName,
  phase: z.string().describe("the switch's phase (switch/phase.ts), e.g. validating, paused, draining"),
  percent: z.number().int().min(0).max(100).nullable().describe("the target's share of the weights the switch applied last, null before its first step"),
  weights: weightsResult.nullable().describe('the weights the switch applied last (null before its first step)'),
  control: z.enum(CONTROL_STATES),
  pause: z
    .object({
      since: isoTime,
      by: z.string(),
      reason: z.string(),
      maxPauseSec: z.number().int().positive().nullable(),
      endsAt: isoTime.nullable().describe('when the switch rolls back unless resumed (max_pause_sec)'),
      gate: z.number().int().min(1).max(100).nullable().describe('set when it waits at an approval gate for this step'),
    })
    .nullable(),
  initiatedBy: z.string(),
  ownerInstance: z.string().describe('the sidecar running it (commands go there)'),
  startedAt: isoTime,
});

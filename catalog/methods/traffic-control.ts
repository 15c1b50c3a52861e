import { z } from 'zod';
import { teamParam } from './core';
import { defineMethod, type MethodSpec } from './method-spec';
import { isoTime, weightsResult } from './result-shapes';
import { reasonParam } from './traffic';

/**
 * A person's say in a running traffic.switch: pause, resume, promote, abort
 * (docs/traffic.md "A person in the loop"). Each names the team (and may name the
 * switch's operation id, so a command never lands on a later switch than the
 * one its sender was looking at), says why, is audited with who, and is
 * journaled in the switch's own operation so a restarted sidecar knows it.
 * A command changes what the running switch does at its next checkpoint (before
 * a step, between two samples of a window); the switch itself moves the traffic.
 */

const commandParams = {
  team: teamParam,
  reason: reasonParam,
  operationId: z.string().min(1).max(100).optional().describe('the switch to act on; refused when the running switch of the team is another one'),
};

/** The switch's state after a command, as every control method answers it. */
export const switchControlResult = z.object({
  operationId: z.string().describe('the switch operation the command went to'),
  team: z.string(),
  command: z.enum(['pause', 'resume', 'promote', 'abort']).describe('the command answered (each method answers its own)'),
  state: z.enum(['running', 'paused', 'promote-requested', 'abort-requested']).describe("the switch's control state after the command"),
  by: z.string().describe('who asked (the build, else the token id)'),
  reason: z.string(),
  at: isoTime,
  taken: z.boolean().describe('true when the running switch reached a checkpoint after the command before this answer (it acts at its next one otherwise)'),
  percent: z.number().int().min(0).max(100).nullable().describe("the step the switch was at, or null before its first"),
  weights: weightsResult.nullable().describe('the weights the switch had applied last'),
  pause: z
    .object({ since: isoTime, by: z.string(), reason: z.string(), maxPauseSec: z.number().int().positive(), endsAt: isoTime.describe('when a pause nobody resumes rolls the switch back') })
    .nullable()
    .describe('set while paused'),
});

/** The team's running switch as traffic.status and environment.status show it (running-switch.ts). */
export { runningSwitchResult } from './running-switch';

export const trafficPause = defineMethod({
  name: 'traffic.pause',
  summary:
    "Hold the team's running switch at its current weights: it keeps sampling and judging its triggers (a breach while paused still rolls back) but moves no further until traffic.resume / traffic.promote / traffic.abort, or until maxPauseSec passes (then it rolls back). Survives a sidecar restart.",
  params: z
    .object({
      ...commandParams,
      maxPauseSec: z.number().int().min(1).max(86_400).optional().describe("default: the team's progressive_traffic.max_pause_sec, else 3600"),
    })
    .strict(),
  result: switchControlResult.extend({ command: z.literal('pause') }),
  mutating: true,
  scope: 'team',
  long: false,
});

export const trafficResume = defineMethod({
  name: 'traffic.resume',
  summary:
    'Let a paused switch (paused by a person or waiting at an approval gate) go on from where it holds: an interrupted window gets back the time it had left and is judged over all its samples, the held ones included; then the next step.',
  params: z.object(commandParams).strict(),
  result: switchControlResult.extend({ command: z.literal('resume') }),
  mutating: true,
  scope: 'team',
  long: false,
});

export const trafficPromote = defineMethod({
  name: 'traffic.promote',
  summary:
    'End the current validation window early as a pass (unless it breached) and go on; held before a step (e.g. at an approval gate) it only lets the switch go on, the next window validated in full. With full: true go straight to 100% with the usual drain of the old side. Resumes a paused switch.',
  params: z.object({ ...commandParams, full: z.boolean().default(false) }).strict(),
  result: switchControlResult.extend({ command: z.literal('promote') }),
  mutating: true,
  scope: 'team',
  long: false,
});

export const trafficAbort = defineMethod({
  name: 'traffic.abort',
  summary:
    'End the running switch now: without hold it rolls back like a breach (all traffic on the source); with hold: true it freezes the current weights and ends the operation `aborted` (rollback.emergency still works afterwards).',
  params: z.object({ ...commandParams, hold: z.boolean().default(false) }).strict(),
  result: switchControlResult.extend({ command: z.literal('abort') }),
  mutating: true,
  scope: 'team',
  long: false,
});

export const TRAFFIC_CONTROL_METHODS: MethodSpec[] = [trafficPause, trafficResume, trafficPromote, trafficAbort];

import { z } from 'zod';
import { DEFAULT_TRIGGERS, parseTrigger, TRIGGER_GRAMMAR } from '../triggers';
import { environmentParam, lockOperationParam, teamParam } from './core';
import { defineMethod, type MethodSpec } from './method-spec';
import { environmentName, weightsResult } from './result-shapes';
import { runningSwitchResult } from './running-switch';

/**
 * RPC methods of the traffic area (docs/rpc-contract.md): the progressive
 * switch, the live traffic status and the emergency rollback. Defaults are the
 * progressive_traffic settings' (increments, validation time, rollback triggers).
 */

const triggerString = z
  .string()
  .max(100)
  .superRefine((s, ctx) => {
    try {
      parseTrigger(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

const stepPercent = z.number().int().min(1).max(100);
/** A step is a percent, or `{percent, approve: true}` for one that waits for a person before it moves. */
const incrementEntry = z.union([stepPercent, z.object({ percent: stepPercent, approve: z.boolean().default(false) }).strict()]);
const percentOf = (e: z.output<typeof incrementEntry>): number => (typeof e === 'number' ? e : e.percent);

/** Percents of traffic on the target, strictly increasing, ending at 100. */
const ascendingTo100 = <T extends z.ZodType>(entry: T, percent: (e: z.output<T>) => number) =>
  z
    .array(entry)
    .min(1)
    .max(20)
    .refine((xs) => xs.map(percent).every((x, i, ps) => i === 0 || x > ps[i - 1]!), 'increments must be strictly increasing')
    .refine((xs) => percent(xs[xs.length - 1]!) === 100, 'the last increment must be 100 (a switch ends with all traffic on the target)');

const increments = ascendingTo100(incrementEntry, percentOf);
/** Increments without gates (a coordinated rollout's switches run unattended). */
export const plainIncrements = ascendingTo100(stepPercent, (x) => x);

export const trafficSwitchParams = z
  .object({
    team: teamParam,
    target: environmentParam,
    increments: increments.default([5, 10, 25, 50, 100]),
    validationSec: z.number().int().min(1).max(3_600).default(60),
    triggers: z.array(triggerString).max(20).default([...DEFAULT_TRIGGERS]),
    /** Requests the target must have answered in a window before error rate and response time count. */
    minSamples: z.number().int().min(0).max(1_000_000).default(20),
    /** A window short of minSamples is extended up to this length (default: 3 × validationSec). */
    maxWindowSec: z.number().int().min(1).max(7_200).optional(),
    /** Then: roll back, or hold at the current weights (up to holdSec) waiting for traffic. */
    onInsufficientSamples: z.enum(['rollback', 'hold']).default('rollback'),
    holdSec: z.number().int().min(1).max(7_200).default(600),
    /** The old side drains (no new requests) until its sessions reach zero or this passes, then goes to maint. */
    drainTimeoutSec: z.number().int().min(0).max(3_600).default(30),
    /** A target left in maint/drain is set ready and must pass its health checks within this. */
    readyTimeoutSec: z.number().int().min(1).max(600).default(30),
    lockToken: z.number().int().positive(),
    lockOperation: lockOperationParam.default('blue_green_switch'),
    /** Seconds between show stat samples during a window (1 s in production; tests may go lower). */
    sampleIntervalMs: z.number().int().min(100).max(10_000).default(1_000),
    /**
     * Before the first weight moves, bring a target without traffic up to date with the source (the
     * two passes of state.migrate, then its reload while it serves nobody), so a migration after the
     * switch finds nothing to reload on the side serving everything. It quiets the source down and
     * waits for its running builds (the calling build excepted), so it is asked for, not implied.
     */
    syncTarget: z.boolean().default(false),
    /** Steps (percents of increments) that wait for a person's traffic.resume before they move: an approval gate. */
    approvalAt: z.array(stepPercent).max(20).default([]),
  })
  .strict()
  .refine((p) => p.approvalAt.every((a) => p.increments.some((e) => percentOf(e) === a)), { message: 'every approvalAt entry must be one of the increments', path: ['approvalAt'] });
export type TrafficSwitchParams = z.output<typeof trafficSwitchParams>;

/** One planned step of a switch: its percent, and whether it waits for approval before moving. */
export interface SwitchStep {
  percent: number;
  approve: boolean;
}

/** The steps a switch takes, from increments (plain or `{percent, approve}`) and approvalAt. */
export function switchSteps(p: Pick<TrafficSwitchParams, 'increments' | 'approvalAt'>): SwitchStep[] {
  return p.increments.map((e) => {
    const percent = percentOf(e);
    return { percent, approve: (typeof e === 'object' && e.approve) || p.approvalAt.includes(percent) };
  });
}

/** Why a person acts on traffic: required, one line, kept in the audit trail. */
export const reasonParam = z
  .string()
  .trim()
  .min(3, 'say why (at least 3 characters): it goes into the audit trail')
  .max(500)
  .refine((s) => ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), 'no control characters');

export const rollbackEmergencyParams = z
  .object({
    team: teamParam,
    reason: reasonParam,
    target: environmentParam.optional(),
  })
  .strict();
export type RollbackEmergencyParams = z.output<typeof rollbackEmergencyParams>;

export const trafficStatusParams = z.object({ team: teamParam }).strict();

/** One validation window's measurements of the target (agent/src/traffic/sli.ts WindowFigures). */
const windowFigures = z.object({
  samples: z.number().int().min(0).describe('show stat samples taken'),
  durationMs: z.number().min(0),
  requests: z.number().min(0),
  errors: z.number().min(0),
  errorRate: z.number().min(0).describe('percent of requests; 0 when no requests'),
  responseTimeMs: z.number().min(0).nullable().describe('mean response time, ms; null when none answered'),
  availability: z.number().min(0).describe('percent of samples whose health check said UP'),
  held: z.number().min(0).describe('sessions open on the target at the last sample'),
  answered: z.number().describe('requests answered without an error in the window'),
  cpuPercent: z.number().nullable(),
  memoryPercent: z.number().nullable(),
  sessionRequests: z.number().min(0).describe('answers to signed-in people on the controller holding their session'),
  sessionErrors: z.number().min(0),
  synthetic: z.object({ runs: z.number().int().min(0), failures: z.number().int().min(0), lastFailure: z.string().nullable() }).nullable(),
});

export const switchStepResult = z.object({
  percent: z.number().int().min(0).max(100).describe("the target's share of traffic in this step"),
  weights: weightsResult,
  windowSec: z.number().min(0),
  verdict: z.enum(['pass', 'breach', 'insufficient', 'halted']),
  figures: windowFigures.nullable(),
  samples: z.number().int().min(0).describe('show stat samples the window took'),
});

const agentHandoverResult = z.object({
  moved: z.array(z.object({ agent: z.string(), waitedMs: z.number().min(0), afterBuilds: z.array(z.string()) })).describe('disconnected from the old side; afterBuilds: the builds it was waited for first'),
  stillBuilding: z.array(z.object({ agent: z.string(), builds: z.array(z.string()) })).describe('still running builds on the old side when the wait ended: left connected there'),
  arrived: z.array(z.string()).describe('of the moved agents, those the new side listed online'),
  skipped: z.array(z.object({ agent: z.string(), reason: z.string() })).describe('connected to the old side but not moved, with why'),
  error: z.string().optional().describe('set when the old controller could not be asked'),
});

const preSwitchSyncResult = z.union([
  z.object({
    synced: z.literal(true),
    files: z.number().int().min(0),
    bytes: z.number().int().min(0),
    delta: z.object({ files: z.number().int().min(0), bytes: z.number().int().min(0) }),
    windowSec: z.number().min(0).describe('builds blocked on the source'),
    reloaded: z.boolean(),
    restarted: z.boolean().describe('true when the copy changed key files and the target was restarted instead of reloaded'),
  }),
  z.object({ synced: z.literal(false), reason: z.string() }),
]);

export const trafficSwitch = defineMethod({
  name: 'traffic.switch',
  summary:
    'Move traffic to `target` in weight steps, validating each for validationSec against the rollback triggers; on a breach all traffic goes back at once (SLI_BREACH). Needs the fencing token of lock <team>:blue_green_switch.\n' +
    TRIGGER_GRAMMAR,
  params: trafficSwitchParams,
  result: z.object({
    status: z.literal('promoted').describe('`promoted` (errors: SLI_BREACH after a rollback, with the figures)'),
    from: environmentName.describe('the side that had the traffic'),
    to: environmentName.describe('the target'),
    alreadyActive: z.boolean().optional().describe('true when the target already had all traffic (no steps)'),
    steps: z.array(switchStepResult),
    drained: z.object({ sessionsAtMaint: z.number().int().min(0), waitedMs: z.number().min(0) }).nullable().describe('for the old side'),
    agents: agentHandoverResult.nullable().optional().describe('inbound agents moved off the old side after promotion (null without a REST client or teams-file entry)'),
    synced: preSwitchSyncResult.optional().describe('what bringing the target up to date before it got traffic did (absent when not configured)'),
  }),
  mutating: true,
  scope: 'team',
  long: true,
});

export const trafficStatus = defineMethod({
  name: 'traffic.status',
  summary: "Live weights and server states from HAProxy beside the desired weights kept in Postgres, and the team's running switch (whether a person holds it).",
  params: trafficStatusParams,
  result: z.object({
    team: z.string(),
    desired: weightsResult.describe('weights the sidecar keeps applying'),
    live: weightsResult.describe('weights HAProxy holds now'),
    inSync: z.boolean(),
    servers: z.array(
      z.object({
        backend: z.string(),
        server: z.string(),
        environment: environmentName,
        status: z.string(),
        weight: z.number().int().min(0),
        sessions: z.number().int().min(0),
        checkStatus: z.string(),
      }),
    ),
    switch: runningSwitchResult.nullable().describe("the team's running traffic.switch (paused or not), or null"),
  }),
  mutating: false,
  scope: 'team',
  long: false,
});

export const rollbackEmergency = defineMethod({
  name: 'rollback.emergency',
  summary: 'Halt any in-flight switch for the team and put all traffic on `target` (default: last known good) within a second; audited with the reason.',
  params: rollbackEmergencyParams,
  result: z.object({
    operationId: z.string().describe('the operation (made by the sidecar when PostgreSQL was unreachable; its row is written once the database answers)'),
    active: environmentName.describe('the side that now has all traffic'),
    weights: weightsResult,
    halted: z.string().nullable().describe('id of the switch operation that was halted, or null'),
    elapsedMs: z.number().min(0).describe('time from the request to the weights being applied'),
    recordsDeferred: z
      .boolean()
      .describe(
        'true when PostgreSQL was unreachable: HAProxy has the weights, the journal, desired weights, promote and audit record follow when the database answers (a repeated call repeats the same move; no idempotency-key dedupe then)',
      ),
  }),
  mutating: true,
  scope: 'team',
  long: false,
});

export const TRAFFIC_METHODS: MethodSpec[] = [trafficSwitch, trafficStatus, rollbackEmergency];

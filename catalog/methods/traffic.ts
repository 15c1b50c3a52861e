import { z } from 'zod';
import { DEFAULT_TRIGGERS, parseTrigger, TRIGGER_GRAMMAR } from '../triggers';
import { environmentParam, lockOperationParam, teamParam } from './core';
import { defineMethod, type MethodSpec } from './method-spec';

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

const increments = z
  .array(z.number().int().min(1).max(100))
  .min(1)
  .max(20)
  .refine((xs) => xs.every((x, i) => i === 0 || x > xs[i - 1]), 'increments must be strictly increasing')
  .refine((xs) => xs[xs.length - 1] === 100, 'the last increment must be 100 (a switch ends with all traffic on the target)');

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
  })
  .strict();
export type TrafficSwitchParams = z.output<typeof trafficSwitchParams>;

export const rollbackEmergencyParams = z
  .object({
    team: teamParam,
    reason: z
      .string()
      .trim()
      .min(3, 'say why (at least 3 characters): it goes into the audit trail')
      .max(500)
      .refine((s) => ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), 'no control characters'),
    target: environmentParam.optional(),
  })
  .strict();
export type RollbackEmergencyParams = z.output<typeof rollbackEmergencyParams>;

export const trafficStatusParams = z.object({ team: teamParam }).strict();

export const TRAFFIC_METHODS: MethodSpec[] = [
  defineMethod({
    name: 'traffic.switch',
    summary:
      'Move traffic to `target` in weight steps, validating each for validationSec against the rollback triggers; on a breach all traffic goes back at once (SLI_BREACH). Needs the fencing token of lock <team>:blue_green_switch.\n' +
      TRIGGER_GRAMMAR,
    params: trafficSwitchParams,
    result: {
      status: '`promoted` (errors: SLI_BREACH after a rollback, with the figures)',
      from: 'the side that had the traffic',
      to: 'the target',
      steps: 'array: { percent, weights, windowSec, verdict, figures { requests, errors, errorRate, responseTimeMs, availability, cpuPercent, memoryPercent }, samples }',
      drained: '{ sessionsAtMaint, waitedMs } for the old side',
      agents: 'inbound agents moved off the old side after promotion: { moved[] { agent, waitedMs, afterBuilds }, stillBuilding[] { agent, builds }, arrived[], skipped[] { agent, reason }, error? } (null without a REST client)',
    },
    mutating: true,
    scope: 'team',
    long: true,
  }),
  defineMethod({
    name: 'traffic.status',
    summary: "Live weights and server states from HAProxy beside the desired weights kept in Postgres.",
    params: trafficStatusParams,
    result: {
      team: 'team name',
      desired: '{ blue, green } weights the sidecar keeps applying',
      live: '{ blue, green } weights HAProxy holds now',
      servers: 'array: { backend, server, environment, status, weight, sessions, checkStatus }',
      inSync: 'boolean',
    },
    mutating: false,
    scope: 'team',
    long: false,
  }),
  defineMethod({
    name: 'rollback.emergency',
    summary: 'Halt any in-flight switch for the team and put all traffic on `target` (default: last known good) within a second; audited with the reason.',
    params: rollbackEmergencyParams,
    result: {
      active: 'the side that now has all traffic',
      weights: '{ blue, green }',
      halted: 'id of the switch operation that was halted, or null',
      elapsedMs: 'time from the request to the weights being applied',
      operationId: 'the operation (made by the sidecar when PostgreSQL was unreachable; its row is written once the database answers)',
      recordsDeferred: 'true when PostgreSQL was unreachable: HAProxy has the weights, the journal, desired weights, promote and audit record follow when the database answers (a repeated call repeats the same move; no idempotency-key dedupe then)',
    },
    mutating: true,
    scope: 'team',
    long: false,
  }),
];

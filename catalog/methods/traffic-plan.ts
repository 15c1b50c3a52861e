import { z } from 'zod';
import { defineMethod, type MethodSpec } from './method-spec';
import { breakerResult, environmentName, isoTime, lockGrantResult, operationSummaryResult, weightsResult } from './result-shapes';
import { trafficSwitchParams } from './traffic';

/**
 * traffic.plan: what a traffic.switch with these params would check and do,
 * answered without doing any of it (docs/traffic.md "Planning a switch"). Reads
 * only: no journal operation, no weights, no lock, no breaker trial, no
 * quiet-down. Its one write is the audit row of the request (who asked, and the verdict).
 */

/**
 * traffic.switch's params; the fencing token is optional (given: the plan says whether it is the
 * live grant). Whatever traffic.switch refuses beyond the fields' own rules (approvalAt outside the
 * increments, ...) the plan refuses too: its refinements are asked, not copied.
 */
export const trafficPlanParams = z
  .object({
    ...trafficSwitchParams.shape,
    lockToken: z.number().int().positive().optional().describe('the token the switch would pass; the plan says whether it is the live grant of the lock'),
  })
  .strict()
  .superRefine((p, ctx) => {
    const asSwitch = trafficSwitchParams.safeParse({ ...p, lockToken: p.lockToken ?? 1 });
    for (const issue of asSwitch.success ? [] : asSwitch.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  });

const finding = z.object({ check: z.string().describe('what was checked, e.g. target, fence, breaker, switch_running, builds'), detail: z.string() });

const sideResult = z.object({
  role: z.enum(['source', 'target']),
  server: z.string(),
  haproxy: z
    .object({
      status: z.string().describe('show stat status: UP, DOWN, MAINT, DRAIN, ...'),
      admin: z.enum(['ready', 'maint', 'drain']),
      weight: z.number().int(),
      sessions: z.number().int().min(0).describe('sessions open now (scur, summed over the team backends)'),
      checkStatus: z.string(),
      peopleAnswers: z.number().int().min(0).nullable().describe("answers to signed-in people on this controller since HAProxy's last reload (people table), null without one"),
    })
    .nullable()
    .describe('null when HAProxy could not be read'),
  container: z.object({ name: z.string(), state: z.string().describe('Docker state: running, exited, missing, foreign, unknown'), health: z.string().nullable() }).nullable().describe('null without Docker'),
  jenkins: z
    .object({
      answered: z.boolean(),
      error: z.string().nullable(),
      running: z.array(z.string()).describe('builds running now (every executor and one-off executor; the calling build excepted)'),
      queued: z.array(z.string()),
      agents: z.array(z.string()).describe('inbound agents connected now'),
    })
    .nullable()
    .describe("null when the sidecar has no REST client for the team's controllers (no teams-file entry)"),
});

const stepResult = z.object({
  percent: z.number().int().min(1).max(100),
  weights: weightsResult,
  gate: z.boolean().describe('waits for a person (traffic.resume) before it moves'),
  windowSec: z.object({ min: z.number().min(0), max: z.number().min(0) }).describe('how long its validation window lasts: validationSec, extended up to maxWindowSec (then holdSec) while short of minSamples'),
  judgedBy: z.array(z.string()).describe('the rollback triggers, as read'),
});

export const trafficPlanResult = z.object({
  team: z.string(),
  from: environmentName,
  to: environmentName,
  wouldStart: z.boolean().describe('false when any blocker stands'),
  alreadyActive: z.boolean().describe('the target already has all traffic: the switch would answer at once and move nothing'),
  blockers: z.array(finding).describe('what would make traffic.switch refuse or fail before the first move'),
  warnings: z.array(finding).describe('what the switch would meet or cause on the way (builds, agents, sessions, gates)'),
  fence: z.object({
    lock: z.string().describe('`<team>:<lockOperation>`'),
    grant: lockGrantResult.nullable().describe('the live grant, null when nobody holds the lock'),
    isHolder: z.boolean().nullable().describe('whether lockToken is the live grant; null when no lockToken was given'),
  }),
  breaker: breakerResult.extend({
    wouldAdmit: z.enum(['yes', 'no', 'as-trial']).describe('read, never tried: as-trial = the one half-open trial, unless another one is in flight'),
    lastReason: z.string().nullable(),
  }),
  consensus: z.object({
    state: z.enum(['none', 'pending', 'approved', 'denied']).describe('the latest consensus.request of the team in the journal'),
    operation: z.string().nullable(),
    operationId: z.string().nullable(),
    at: isoTime.nullable(),
    reason: z.string().nullable(),
  }),
  running: z.array(operationSummaryResult).describe('operations of the team running now'),
  environment: z.object({
    recorded: z.boolean().describe("false: no environment_state yet (the switch would create it from the teams file's active_environment)"),
    active: environmentName,
    previous: environmentName.nullable(),
    weights: weightsResult.describe('desired weights (Postgres)'),
    lastKnownGood: environmentName,
  }),
  haproxy: z.object({
    answered: z.boolean(),
    error: z.string().nullable(),
    backends: z.array(z.string()),
    live: weightsResult.nullable(),
    inSync: z.boolean().nullable().describe('live weights equal the desired ones'),
  }),
  sides: z.object({ blue: sideResult, green: sideResult }),
  prepareTarget: z.object({ action: z.enum(['none', 'set-ready', 'wait-up', 'refuse']), detail: z.string(), waitUpToSec: z.number().int().min(0) }),
  sync: z.object({ runs: z.boolean().describe('the pre-switch sync (syncTarget) would run'), detail: z.string() }),
  steps: z.array(stepResult),
  durationSec: z.object({
    min: z.number().min(0).describe('every window passing at its first chance'),
    max: z.number().min(0).nullable().describe('every wait at its bound (target ready, windows extended/held, drain, agents); null when a gate waits for a person'),
  }),
  drain: z.object({ server: z.string(), timeoutSec: z.number().int().min(0), sessionsNow: z.number().int().min(0).nullable(), detail: z.string() }),
  rollback: z.object({ weights: weightsResult, detail: z.string() }),
  afterPromotion: z.array(z.string()).describe('what follows the promotion (agents, triggers)'),
  at: isoTime,
});

export const trafficPlan = defineMethod({
  name: 'traffic.plan',
  summary:
    "What traffic.switch with these params would check and do, without doing it: fence and breaker (read, never tried), consensus, running operations, environment state and HAProxy's live weights, the target's state and what preparing it would do, builds, queue and agents on each side (a controller that does not answer is reported), open sessions, each step with its window and triggers, the expected duration, the drain and a rollback; then wouldStart with blockers and warnings. Changes nothing; the request is audited (operationType traffic.plan, with the verdict).",
  params: trafficPlanParams,
  result: trafficPlanResult,
  mutating: false,
  scope: 'team',
  long: false,
});

export const TRAFFIC_PLAN_METHODS: MethodSpec[] = [trafficPlan];

import { z } from 'zod';
import { OPERATION_NAME_PATTERN, OPERATION_NAME_RULE } from '../operation-names';
import { ENVIRONMENTS, TEAM_NAME_PATTERN } from '../teams-file';
import { detailsParam } from './details-param';
import { defineMethod, type MethodSpec } from './method-spec';
import { breakerResult, environmentName, isoTime, lockGrantResult, operationRecordResult, operationSummaryResult, weightsResult } from './result-shapes';
import { runningSwitchResult } from './running-switch';

/**
 * RPC methods of the core area (transport and store), per docs/rpc-contract.md.
 *
 * Two params are handled by the transport on EVERY method and are not listed in
 * the schemas below: `idempotencyKey` (mutating methods) and `build` (the calling
 * Jenkins build). The transport removes them before validating `params` and hands
 * them to the handler as `call.idempotencyKey` / `call.actor.build`.
 */

/** `[A-Za-z0-9_.:#/@-]`, 1–200 chars (docs/rpc-contract.md). */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_.:#/@-]{1,200}$/;
/** `<JOB_NAME>#<BUILD_NUMBER>`; job names may hold spaces and slashes but no control characters. */
export const BUILD_PATTERN = /^[^\p{Cc}]{1,300}#\d{1,10}$/u;
export const TRANSPORT_PARAMS = {
  idempotencyKey: z.string().regex(IDEMPOTENCY_KEY_PATTERN, 'expected 1-200 characters of [A-Za-z0-9_.:#/@-]').optional(),
  build: z.string().regex(BUILD_PATTERN, 'expected <JOB_NAME>#<BUILD_NUMBER>').optional(),
};

export const teamParam = z.string().regex(TEAM_NAME_PATTERN, 'expected a team name: lower-case letters, digits, - or _, starting with a letter');
export const environmentParam = z.enum(ENVIRONMENTS);
/** A lock's operation part, e.g. blue_green_switch; the lock is named `<team>:<operation>` (catalog/operation-names.ts). */
export const lockOperationParam = z.string().regex(OPERATION_NAME_PATTERN, OPERATION_NAME_RULE);
/** coordination_locks.locked_by VARCHAR(255); the store refuses longer owners (pg-locks.ts). */
const ownerParam = z.string().regex(/^[^\p{Cc}]{1,255}$/u, 'expected 1-255 printable characters');
const fencingToken = z.number().int().positive();
const details = detailsParam;
/** What a coordination step or a proposal is for (version_upgrade, Deploy-Green): the same rule as a lock's operation, recorded as deployment_audit.operation_type. */
export const operationNameParam = z.string().regex(OPERATION_NAME_PATTERN, OPERATION_NAME_RULE);
export const operationIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected an operation id');

export const lockAcquire = defineMethod({
  name: 'lock.acquire',
  summary: 'Take the lease lock <team>:<operation>; LOCK_HELD (naming holder and expiry) when another owner holds it after waitSec.',
  params: z
    .object({
      team: teamParam,
      operation: lockOperationParam,
      ttlSec: z.number().int().min(1).max(86_400).default(600),
      waitSec: z.number().int().min(0).max(3_600).default(0),
      owner: ownerParam.optional(),
    })
    .strict(),
  result: lockGrantResult.extend({ waitedMs: z.number().int().min(0).optional().describe('how long the call waited for the lock, ms') }),
  mutating: true,
  scope: 'team',
  long: false,
});

export const lockRelease = defineMethod({
  name: 'lock.release',
  summary: 'Release a lock by its fencing token, or (without token) whatever owner holds; releasing nothing is released:false.',
  params: z
    .object({ team: teamParam, operation: lockOperationParam, token: fencingToken.optional(), owner: ownerParam.optional() })
    .strict(),
  result: z.object({ released: z.boolean().describe('false when nothing was held') }),
  mutating: true,
  scope: 'team',
  long: false,
});

export const lockRenew = defineMethod({
  name: 'lock.renew',
  summary: 'Extend a held lock; FENCED when token is no longer the live grant.',
  params: z
    .object({ team: teamParam, operation: lockOperationParam, token: fencingToken, ttlSec: z.number().int().min(1).max(86_400).default(600) })
    .strict(),
  result: lockGrantResult,
  mutating: true,
  scope: 'team',
  long: false,
});

export const lockList = defineMethod({
  name: 'lock.list',
  summary: 'Live locks (a team token sees only its teams).',
  params: z.object({ team: teamParam.optional() }).strict(),
  result: z.object({ locks: z.array(lockGrantResult).describe('the live grants the token may see') }),
  mutating: false,
  scope: 'team',
  long: false,
});

export const leadershipEstablish = defineMethod({
  name: 'leadership.establish',
  summary: 'Take or keep the health-based leader lease of scope team:<team> (or global); NOT_LEADER when a healthier live instance holds it.',
  params: z
    .object({
      team: teamParam.optional(),
      leaseSec: z.number().int().min(2).max(3_600).default(30),
      /** What the leadership is for (e.g. version_upgrade); recorded in the audit, does not change the scope. */
      operation: operationNameParam.optional(),
    })
    .strict(),
  result: z.object({
    scope: z.string().describe('team:<team> or global'),
    leader: z.string().describe('instance id'),
    token: z.number().int().describe('increases on every change of leader'),
    expiresAt: isoTime,
    isLeader: z.boolean(),
  }),
  mutating: true,
  scope: 'team',
  long: false,
});

export const consensusRequest = defineMethod({
  name: 'consensus.request',
  summary: 'Ask every live sidecar to vote (majority quorum); a denial is a result, not an error.',
  params: z
    .object({
      team: teamParam,
      operation: operationNameParam,
      target: environmentParam.optional(),
      details: details.optional(),
      coordinator: ownerParam.optional(),
      timeoutSec: z.number().int().min(1).max(3_600).default(300),
    })
    .strict(),
  result: z.object({
    approved: z.boolean(),
    reason: z.string().describe('why'),
    votes: z.array(z.object({ voter: z.string(), approve: z.boolean(), reason: z.string() })),
    quorum: z.number().int().describe('yes votes needed: floor(n/2)+1'),
    participants: z.number().int().describe('live participants counted at proposal time'),
    proposalId: z.string(),
  }),
  mutating: true,
  scope: 'team',
  long: true,
});

const controllerContainer = z.object({
  container: z.string(),
  state: z.string().describe("Docker's state, or missing / foreign / unknown"),
  health: z.string().nullable(),
  image: z.string().nullable(),
  detail: z.string().optional(),
});

export const environmentStatus = defineMethod({
  name: 'environment.status',
  summary: "The team's active and previous environment, desired weights, operation in flight and the calling build's switch.",
  params: z
    .object({
      team: teamParam,
      /** Also ask Docker for both controllers' containers (ops views); pipelines leave it off and stay on the database alone. */
      containers: z.boolean().default(false),
    })
    .strict(),
  result: z.object({
    active: environmentName,
    previous: environmentName.nullable(),
    weights: weightsResult.describe('desired weights'),
    operation: operationSummaryResult.nullable().describe('the operation in flight for the team, or null'),
    lastKnownGood: environmentName,
    buildSwitch: z
      .object({ from: environmentName.nullable(), to: environmentName.nullable(), status: z.string(), operationId: z.string() })
      .nullable()
      .describe('{from, to, status, operationId} of the latest traffic.switch started by `build`, or null'),
    switch: runningSwitchResult.nullable().describe("the team's running traffic.switch: phase, percent, and whether a person holds it (paused since, by), or null"),
    containers: z
      .object({ blue: controllerContainer, green: controllerContainer })
      .nullable()
      .optional()
      .describe(
        "with containers:true only — {blue, green}: each controller's {container, state (Docker's, or missing / foreign / unknown with detail), health, image}; null without a teams-file entry. Bounded: a slow or stopped Docker gives state unknown, not an error",
      ),
  }),
  mutating: false,
  scope: 'team',
  long: false,
});

export const coordinationUpdate = defineMethod({
  name: 'coordination.update',
  summary: 'Record how a pipeline stage ended in the audit trail.',
  params: z
    .object({
      team: teamParam,
      operation: operationNameParam,
      status: z.enum(['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']).nullable().default('SUCCESS'),
      environment: environmentParam.optional(),
      details: details.optional(),
    })
    .strict(),
  result: z.object({ recorded: z.boolean(), auditId: z.string() }),
  mutating: true,
  scope: 'team',
  long: false,
});

export const operationGet = defineMethod({
  name: 'operation.get',
  summary: 'The journal record of one operation.',
  params: z.object({ operationId: operationIdParam }).strict(),
  result: operationRecordResult,
  mutating: false,
  scope: 'any',
  long: false,
});

export const operationAttach = defineMethod({
  name: 'operation.attach',
  summary: 'Follow an operation (also one run by another sidecar): progress until it ends, then its result or error.',
  params: z.object({ operationId: operationIdParam }).strict(),
  result: z.unknown().describe("the operation's own result (the result of its method)"),
  mutating: false,
  scope: 'any',
  long: true,
});

export const breakerStatus = defineMethod({
  name: 'breaker.status',
  summary: 'Circuit breakers (a team token sees only its teams).',
  params: z.object({ team: teamParam.optional() }).strict(),
  result: z.object({ breakers: z.array(breakerResult) }),
  mutating: false,
  scope: 'team',
  long: false,
});

export const rpcDiscover = defineMethod({
  name: 'rpc.discover',
  summary: 'The method catalog: names, params and results as JSON Schema, scope.',
  params: z.object({}).strict(),
  result: z.object({
    methods: z.array(
      z.object({
        name: z.string(),
        summary: z.string(),
        params: z.record(z.string(), z.unknown()).describe('JSON Schema of the params'),
        result: z.record(z.string(), z.unknown()).describe('JSON Schema of the result'),
        mutating: z.boolean(),
        scope: z.enum(['team', 'ops', 'any']),
        long: z.boolean(),
      }),
    ),
    transportParams: z.record(z.string(), z.string()).describe('params every method takes, handled by the transport'),
  }),
  mutating: false,
  scope: 'any',
  long: false,
});

export const CORE_METHODS: MethodSpec[] = [
  lockAcquire,
  lockRelease,
  lockRenew,
  lockList,
  leadershipEstablish,
  consensusRequest,
  environmentStatus,
  coordinationUpdate,
  operationGet,
  operationAttach,
  breakerStatus,
  rpcDiscover,
];

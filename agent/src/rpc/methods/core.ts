import type Docker from 'dockerode';
import { z } from 'zod';
import {
  breakerStatus,
  consensusRequest,
  coordinationUpdate,
  environmentStatus,
  leadershipEstablish,
  lockAcquire,
  lockList,
  lockRelease,
  lockRenew,
  operationAttach,
  operationGet,
  rpcDiscover,
} from '../../../../catalog/methods/core';
import type { MethodResult } from '../../../../catalog/methods/method-spec';
import type { TeamDirectory } from '../../config/team-directory';
import { SidecarError, isSidecarError } from '../../sidecar-error';
import type { SidecarMetrics } from '../../metrics/sidecar-metrics';
import type { OperationBody, OperationRunner } from '../../operations/runner';
import type { AuditEntry, BreakerStatus, LockGrant, OperationRecord, Store } from '../../store/contract';
import { listVisibleBreakers, listVisibleLocks } from '../../store/visible-listing';
import { controllerContainers } from '../../environments/container-status';
import { readRunningSwitch } from '../../traffic/running-switch';
import { isOps, mayActOn, visibleTeams } from '../principal';
import { bind, type CallContext, type Handler, type MethodRegistry, type RegisteredMethod } from '../registry';

/**
 * Handlers of the core methods (docs/rpc-contract.md). Each is thin: the
 * dispatcher has validated and authorized the params; the handler calls one
 * store operation (through the runner when it is long or carries an
 * idempotencyKey) and maps the result to JSON.
 *
 * Pattern for other areas: `registerTrafficMethods(registry, deps)` in
 * rpc/methods/traffic.ts, same shape, wired in sidecar.ts.
 */
export interface CoreMethodDeps {
  store: Store;
  runner: OperationRunner;
  teams: TeamDirectory;
  instanceId: string;
  metrics?: SidecarMetrics;
  /** environment.status reports the controllers' containers through it (bounded; `unknown` when Docker does not answer). */
  docker?: Docker;
}

/** Runs `body` under the journal when the call must be idempotent or followed; directly otherwise (no journal row per lock call). */
export async function runMaybeJournaled<T>(
  runner: OperationRunner,
  call: CallContext,
  req: { team: string | null; params: Record<string, unknown>; alwaysJournal?: boolean },
  body: (...args: Parameters<OperationBody>) => Promise<T>,
  direct: () => Promise<T>,
): Promise<T> {
  if (!req.alwaysJournal && !call.idempotencyKey) return direct();
  const outcome = await runner.run(
    {
      type: call.method,
      team: req.team,
      params: req.params,
      ...(call.idempotencyKey ? { idempotencyKey: call.idempotencyKey } : {}),
      actor: call.actor,
      onProgress: (e) => call.progress(e),
      signal: call.signal,
    },
    body,
  );
  call.operationId = outcome.operationId;
  // The journal keeps what the body returned (or, re-attached by key, what it returned the first time).
  return outcome.result as T;
}

const grantJson = (g: LockGrant) => ({
  lockName: g.lockName,
  token: g.token,
  expiresAt: g.expiresAt.toISOString(),
  holder: g.holder,
  ...(g.waitedMs !== undefined ? { waitedMs: g.waitedMs } : {}),
});

export function operationSummary(op: OperationRecord) {
  return { id: op.id, type: op.type, team: op.team, status: op.status, phase: op.phase, initiatedBy: op.initiatedBy, ownerInstance: op.ownerInstance, startedAt: op.startedAt.toISOString() };
}

/** A journal record as it travels: times as ISO-8601. */
export function operationJson(op: OperationRecord): MethodResult<typeof operationGet> {
  return {
    ...op,
    startedAt: op.startedAt.toISOString(),
    completedAt: op.completedAt ? op.completedAt.toISOString() : null,
    steps: op.steps.map((s) => ({ ...s, at: s.at.toISOString() })),
  };
}

const breakerJson = (b: BreakerStatus) => ({ ...b, openedAt: b.openedAt ? b.openedAt.toISOString() : null, retryAt: b.retryAt ? b.retryAt.toISOString() : null });

type Deps = CoreMethodDeps;

/** Lock wait time by outcome, for the lock_wait_seconds histogram. */
function observeLockWait(metrics: SidecarMetrics | undefined, started: bigint, result: string): void {
  metrics?.lockWait.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
}

export const lockAcquireHandler =
  ({ store, runner, teams, metrics }: Deps): Handler<typeof lockAcquire> =>
  async (params, call) => {
    teams.require(params.team);
    const owner = params.owner ?? call.actor.tokenId;
    const acquire = async (signal: AbortSignal, audit?: AuditEntry) => {
      const started = process.hrtime.bigint();
      try {
        const grant = await store.locks.acquire({ team: params.team, operation: params.operation, ttlSec: params.ttlSec, waitSec: params.waitSec, owner, actor: call.actor, signal, ...(audit ? { audit } : {}) });
        if (grant.auditId) call.audit?.written(grant.auditId);
        observeLockWait(metrics, started, 'acquired');
        return grantJson(grant);
      } catch (err) {
        observeLockWait(metrics, started, isSidecarError(err) ? err.code : 'error');
        throw err;
      }
    };
    // A direct wait ends when the caller goes away; a journaled one belongs to the sidecar (a retry with the
    // same key re-attaches to it) and ends only on shutdown. Only the direct call hands its audit row to the
    // store (one commit for the lock and its record); a journaled one is audited after, linked to its operation.
    return runMaybeJournaled(
      runner,
      call,
      { team: params.team, params: { ...params, owner } },
      (ctx) => acquire(ctx.signal),
      () => acquire(call.signal, call.audit?.entry()),
    );
  };

export const lockReleaseHandler =
  ({ store, runner }: Deps): Handler<typeof lockRelease> =>
  async (params, call) => {
    const owner = params.owner ?? call.actor.tokenId;
    const release = async (audit?: AuditEntry) => {
      const r = await store.locks.release({ team: params.team, operation: params.operation, token: params.token, owner, actor: call.actor, ...(audit ? { audit } : {}) });
      if (r.auditId) call.audit?.written(r.auditId);
      return { released: r.released };
    };
    return runMaybeJournaled(runner, call, { team: params.team, params: { ...params, owner } }, () => release(), () => release(call.audit?.entry()));
  };

export const lockRenewHandler =
  ({ store, runner }: Deps): Handler<typeof lockRenew> =>
  async (params, call) => {
    const renew = async (audit?: AuditEntry) => {
      const grant = await store.locks.renew({ ...params, ...(audit ? { audit } : {}) });
      if (grant.auditId) call.audit?.written(grant.auditId);
      return grantJson(grant);
    };
    return runMaybeJournaled(runner, call, { team: params.team, params }, () => renew(), () => renew(call.audit?.entry()));
  };

export const lockListHandler =
  ({ store }: Deps): Handler<typeof lockList> =>
  async ({ team }, call) => ({ locks: (await listVisibleLocks(store, visibleTeams(call.principal), team)).map(grantJson) });

export const leadershipEstablishHandler =
  ({ store, runner, teams, instanceId }: Deps): Handler<typeof leadershipEstablish> =>
  async ({ team, leaseSec, operation }, call) => {
    if (team) teams.require(team);
    // The global lease coordinates every team: a team's token keeps to its own team's scope.
    else if (!isOps(call.principal)) {
      throw new SidecarError('FORBIDDEN', `the global leadership lease needs an ops token; token ${call.principal.tokenId} may take team:<team> leases of ${call.principal.teams.join(', ')} (pass team)`, {
        tokenId: call.principal.tokenId,
      });
    }
    const scope = team ? `team:${team}` : 'global';
    const establish = async () => {
      const lease = await store.leadership.establish({ scope, candidate: instanceId, leaseSec });
      return { scope: lease.scope, leader: lease.leader, token: lease.token, expiresAt: lease.expiresAt.toISOString(), isLeader: lease.leader === instanceId };
    };
    return runMaybeJournaled(runner, call, { team: team ?? null, params: { scope, leaseSec, ...(operation ? { operation } : {}) } }, establish, establish);
  };

export const consensusRequestHandler =
  ({ store, runner, teams, instanceId, metrics }: Deps): Handler<typeof consensusRequest> =>
  async (params, call) => {
    teams.require(params.team);
    const body = async (ctx: Parameters<OperationBody>[0]): Promise<MethodResult<typeof consensusRequest>> => {
      const started = process.hrtime.bigint();
      // operationId tells the voters this proposal's own operation is not a conflicting one.
      const details = { ...(params.details ?? {}), operationId: ctx.operation.id, ...(params.target ? { target: params.target } : {}), ...(params.coordinator ? { coordinator: params.coordinator } : {}) };
      const { proposalId } = await store.consensus.propose({ operation: params.operation, team: params.team, details, proposer: instanceId, timeoutSec: params.timeoutSec, actor: ctx.actor });
      ctx.progress({ phase: 'voting', message: `proposal ${proposalId} for ${params.operation} on ${params.team}: waiting for the live sidecars to vote (timeout ${params.timeoutSec} s)`, proposalId });
      const d = await store.consensus.awaitDecision(proposalId, ctx.signal);
      // The tally words a deadline denial "denied: timed out ..." (store/consensus-tally.ts); alerts tell the two apart.
      const outcome = d.approved ? 'approved' : /^denied: timed out/.test(d.reason) ? 'timeout' : 'denied';
      metrics?.consensusDecided(params.team, outcome, Number(process.hrtime.bigint() - started) / 1e9);
      ctx.progress({ phase: 'decided', message: d.reason, approved: d.approved, proposalId });
      const votes = d.votes.map((v) => ({ voter: v.voter, approve: v.approve, reason: v.reason }));
      return { approved: d.approved, reason: d.reason, votes, quorum: d.quorum, participants: d.participants, proposalId: d.proposalId };
    };
    return runMaybeJournaled(runner, call, { team: params.team, params, alwaysJournal: true }, body, () => Promise.reject(new Error('unreachable')));
  };

export const environmentStatusHandler =
  ({ store, teams, docker }: Deps): Handler<typeof environmentStatus> =>
  async ({ team, containers: withContainers }, call) => {
    // Only when asked (pipelines call this often and need the database alone): Docker is asked beside the database reads.
    const config = teams.find(team);
    const containers = withContainers ? (docker && config ? controllerContainers(docker, config) : Promise.resolve(null)) : undefined;
    const state = (await store.environments.get(team)) ?? (await store.environments.ensure(team, teams.initialActive(team)));
    // The running switch as its journal says: the same answer on every sidecar (also a restarted one), however old.
    const [runningSwitch, recent] = await Promise.all([readRunningSwitch(store.journal, team), store.journal.list({ team, limit: 50 })]);
    const running = recent.find((o) => o.status === 'running');
    const build = call.actor.build;
    // The journal records the initiator as "<build> (token <id>)" (store/pg-journal.ts describeActor).
    const mine = build ? recent.find((o) => o.type === 'traffic.switch' && (o.initiatedBy === build || o.initiatedBy.startsWith(`${build} (`))) : undefined;
    const target = mine && (mine.params.target === 'blue' || mine.params.target === 'green') ? mine.params.target : null;
    return {
      active: state.active,
      previous: state.previous,
      weights: state.weights,
      operation: running ? operationSummary(running) : null,
      lastKnownGood: state.lastKnownGood,
      buildSwitch: mine ? { from: target === 'blue' ? 'green' : target === 'green' ? 'blue' : null, to: target, status: mine.status, operationId: mine.id } : null,
      switch: runningSwitch,
      ...(containers ? { containers: await containers } : {}),
    };
  };

export const coordinationUpdateHandler =
  ({ store, runner, teams }: Deps): Handler<typeof coordinationUpdate> =>
  async (params, call) => {
    teams.require(params.team);
    const record = async () => {
      const auditId = await store.audit.record({
        operationType: params.operation,
        team: params.team,
        targetEnvironment: params.environment ?? null,
        initiatedBy: call.actor.build ?? call.actor.tokenId,
        status: params.status ?? 'SUCCESS',
        metadata: { details: params.details ?? {}, via: 'coordination.update' },
        actor: call.actor,
        completedAt: new Date(),
      });
      return { recorded: true, auditId };
    };
    return runMaybeJournaled(runner, call, { team: params.team, params }, record, record);
  };

/** The journal record of `operationId` when the caller may see it; NOT_FOUND / FORBIDDEN otherwise. */
async function visibleOperation(store: Store, call: CallContext, operationId: string): Promise<OperationRecord> {
  const op = await store.journal.get(operationId);
  if (!op) throw new SidecarError('NOT_FOUND', `operation ${operationId} does not exist; check the id`, { operationId });
  assertVisible(call, op);
  return op;
}

export const operationGetHandler =
  ({ store }: Deps): Handler<typeof operationGet> =>
  async ({ operationId }, call) =>
    operationJson(await visibleOperation(store, call, operationId));

export const operationAttachHandler =
  ({ store, runner }: Deps): Handler<typeof operationAttach> =>
  async ({ operationId }, call) => {
    const op = await visibleOperation(store, call, operationId);
    return runner.attach(operationId, (e) => call.progress(e), call.signal, op.status === 'running' ? undefined : op);
  };

export const breakerStatusHandler =
  ({ store }: Deps): Handler<typeof breakerStatus> =>
  async ({ team }, call) => ({ breakers: (await listVisibleBreakers(store, visibleTeams(call.principal), team)).map(breakerJson) });

/** rpc.discover lists what the registry serves at the time of the call (areas register after core). */
export const rpcDiscoverHandler =
  (registry: MethodRegistry): Handler<typeof rpcDiscover> =>
  async () => ({
    methods: registry.list().map((m) => ({
      name: m.name,
      summary: m.summary,
      params: z.toJSONSchema(m.params, { io: 'input', unrepresentable: 'any' }),
      result: z.toJSONSchema(m.result, { io: 'output', unrepresentable: 'any' }),
      mutating: m.mutating,
      scope: m.scope,
      long: m.long,
    })),
    transportParams: {
      idempotencyKey: 'mutating methods: the same key re-attaches to the same operation instead of starting another',
      build: '<JOB_NAME>#<BUILD_NUMBER> of the calling Jenkins build; recorded in the audit and the journal',
    },
  });

/** The core area's methods, each spec with its handler. */
export function coreMethods(registry: MethodRegistry, deps: CoreMethodDeps): RegisteredMethod[] {
  return [
    bind(lockAcquire, lockAcquireHandler(deps)),
    bind(lockRelease, lockReleaseHandler(deps)),
    bind(lockRenew, lockRenewHandler(deps)),
    bind(lockList, lockListHandler(deps)),
    bind(leadershipEstablish, leadershipEstablishHandler(deps)),
    bind(consensusRequest, consensusRequestHandler(deps)),
    bind(environmentStatus, environmentStatusHandler(deps)),
    bind(coordinationUpdate, coordinationUpdateHandler(deps)),
    bind(operationGet, operationGetHandler(deps)),
    bind(operationAttach, operationAttachHandler(deps)),
    bind(breakerStatus, breakerStatusHandler(deps)),
    bind(rpcDiscover, rpcDiscoverHandler(registry)),
  ];
}

export function registerCoreMethods(registry: MethodRegistry, deps: CoreMethodDeps): void {
  registry.add(...coreMethods(registry, deps));
}

function assertVisible(call: CallContext, op: OperationRecord): void {
  if (op.team && !mayActOn(call.principal, op.team)) {
    throw new SidecarError('FORBIDDEN', `operation ${op.id} belongs to team ${op.team}; token ${call.principal.tokenId} may not see it`, { operationId: op.id, team: op.team });
  }
  if (!op.team && !call.principal.teams.includes('*')) {
    throw new SidecarError('FORBIDDEN', `operation ${op.id} is not a team's operation; only ops tokens may see it`, { operationId: op.id });
  }
}

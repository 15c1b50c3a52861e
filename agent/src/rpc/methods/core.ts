import type Docker from 'dockerode';
import { z } from 'zod';
import { CORE_METHODS } from '../../../../catalog/methods/core';
import type { TeamDirectory } from '../../config/team-directory';
import { SidecarError, isSidecarError } from '../../sidecar-error';
import type { SidecarMetrics } from '../../metrics/sidecar-metrics';
import type { OperationBody, OperationRunner } from '../../operations/runner';
import type { AuditEntry, LockGrant, OperationRecord, Store } from '../../store/contract';
import { controllerContainers } from '../../environments/container-status';
import { isOps, mayActOn, visibleTeams } from '../principal';
import { specNamed, type CallContext, type MethodRegistry } from '../registry';

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

const spec = (name: string) => specNamed(CORE_METHODS, name);

/** Runs `body` under the journal when the call must be idempotent or followed; directly otherwise (no journal row per lock call). */
export async function runMaybeJournaled(
  runner: OperationRunner,
  call: CallContext,
  req: { team: string | null; params: Record<string, unknown>; alwaysJournal?: boolean },
  body: OperationBody,
  direct: () => Promise<unknown>,
): Promise<unknown> {
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
  return outcome.result;
}

const grantJson = (g: LockGrant) => ({
  lockName: g.lockName,
  token: g.token,
  expiresAt: g.expiresAt.toISOString(),
  holder: g.holder,
  ...(g.waitedMs !== undefined ? { waitedMs: g.waitedMs } : {}),
});

export function operationSummary(op: OperationRecord) {
  return { id: op.id, type: op.type, team: op.team, status: op.status, phase: op.phase, initiatedBy: op.initiatedBy, ownerInstance: op.ownerInstance, startedAt: op.startedAt };
}

export function registerCoreMethods(registry: MethodRegistry, deps: CoreMethodDeps): void {
  const { store, runner, teams, instanceId, metrics } = deps;

  registry.register(spec('lock.acquire'), async (p, call) => {
    const params = p as { team: string; operation: string; ttlSec: number; waitSec: number; owner?: string };
    teams.require(params.team);
    const owner = params.owner ?? call.actor.tokenId;
    const acquire = async (signal: AbortSignal, audit?: AuditEntry): Promise<unknown> => {
      const started = process.hrtime.bigint();
      try {
        const grant = await store.locks.acquire({ team: params.team, operation: params.operation, ttlSec: params.ttlSec, waitSec: params.waitSec, owner, actor: call.actor, signal, ...(audit ? { audit } : {}) });
        if (grant.auditId) call.audit?.written(grant.auditId);
        metrics?.lockWait.observe({ result: 'acquired' }, Number(process.hrtime.bigint() - started) / 1e9);
        return grantJson(grant);
      } catch (err) {
        metrics?.lockWait.observe({ result: isSidecarError(err) ? err.code : 'error' }, Number(process.hrtime.bigint() - started) / 1e9);
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
  });

  registry.register(spec('lock.release'), async (p, call) => {
    const params = p as { team: string; operation: string; token?: number; owner?: string };
    const owner = params.owner ?? call.actor.tokenId;
    const release = async (audit?: AuditEntry) => {
      const r = await store.locks.release({ team: params.team, operation: params.operation, token: params.token, owner, actor: call.actor, ...(audit ? { audit } : {}) });
      if (r.auditId) call.audit?.written(r.auditId);
      return { released: r.released };
    };
    return runMaybeJournaled(runner, call, { team: params.team, params: { ...params, owner } }, () => release(), () => release(call.audit?.entry()));
  });

  registry.register(spec('lock.renew'), async (p, call) => {
    const params = p as { team: string; operation: string; token: number; ttlSec: number };
    const renew = async (audit?: AuditEntry) => {
      const grant = await store.locks.renew({ ...params, ...(audit ? { audit } : {}) });
      if (grant.auditId) call.audit?.written(grant.auditId);
      return grantJson(grant);
    };
    return runMaybeJournaled(runner, call, { team: params.team, params }, () => renew(), () => renew(call.audit?.entry()));
  });

  registry.register(spec('lock.list'), async (p, call) => {
    const { team } = p as { team?: string };
    const visible = visibleTeams(call.principal);
    const locks = await store.locks.list(team ? { team } : undefined);
    return {
      locks: locks.filter((l) => (!team || l.lockName.startsWith(`${team}:`)) && (!visible || visible.has(teamOfLock(l.lockName)))).map(grantJson),
    };
  });

  registry.register(spec('leadership.establish'), async (p, call) => {
    const { team, leaseSec, operation } = p as { team?: string; leaseSec: number; operation?: string };
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
  });

  registry.register(spec('consensus.request'), async (p, call) => {
    const params = p as { team: string; operation: string; target?: string; details?: Record<string, unknown>; coordinator?: string; timeoutSec: number };
    teams.require(params.team);
    const body: OperationBody = async (ctx) => {
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
      return {
        approved: d.approved,
        reason: d.reason,
        votes: d.votes.map((v) => ({ voter: v.voter, approve: v.approve, reason: v.reason })),
        quorum: d.quorum,
        participants: d.participants,
        proposalId: d.proposalId,
      };
    };
    return runMaybeJournaled(runner, call, { team: params.team, params, alwaysJournal: true }, body, () => Promise.reject(new Error('unreachable')));
  });

  registry.register(spec('environment.status'), async (p, call) => {
    const { team, containers: withContainers } = p as { team: string; containers: boolean };
    // Only when asked (pipelines call this often and need the database alone): Docker is asked beside the database reads.
    const config = teams.find(team);
    const containers = withContainers ? (deps.docker && config ? controllerContainers(deps.docker, config) : Promise.resolve(null)) : undefined;
    const state = (await store.environments.get(team)) ?? (await store.environments.ensure(team, teams.initialActive(team)));
    const recent = await store.journal.list({ team, limit: 50 });
    const running = recent.find((o) => o.status === 'running');
    const build = call.actor.build;
    // The journal records the initiator as "<build> (token <id>)" (store/pg-journal.ts describeActor).
    const mine = build ? recent.find((o) => o.type === 'traffic.switch' && (o.initiatedBy === build || o.initiatedBy.startsWith(`${build} (`))) : undefined;
    const target = mine && typeof mine.params.target === 'string' ? mine.params.target : null;
    return {
      active: state.active,
      previous: state.previous,
      weights: state.weights,
      operation: running ? operationSummary(running) : null,
      lastKnownGood: state.lastKnownGood,
      buildSwitch: mine ? { from: target === 'blue' ? 'green' : target === 'green' ? 'blue' : null, to: target, status: mine.status, operationId: mine.id } : null,
      ...(containers ? { containers: await containers } : {}),
    };
  });

  registry.register(spec('coordination.update'), async (p, call) => {
    const params = p as { team: string; operation: string; status: string | null; environment?: string; details?: Record<string, unknown> };
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
  });

  registry.register(spec('operation.get'), async (p, call) => {
    const { operationId } = p as { operationId: string };
    const op = await store.journal.get(operationId);
    if (!op) throw new SidecarError('NOT_FOUND', `operation ${operationId} does not exist; check the id`, { operationId });
    assertVisible(call, op);
    return op;
  });

  registry.register(spec('operation.attach'), async (p, call) => {
    const { operationId } = p as { operationId: string };
    const op = await store.journal.get(operationId);
    if (!op) throw new SidecarError('NOT_FOUND', `operation ${operationId} does not exist; check the id`, { operationId });
    assertVisible(call, op);
    return runner.attach(operationId, (e) => call.progress(e), call.signal, op.status === 'running' ? undefined : op);
  });

  registry.register(spec('breaker.status'), async (p, call) => {
    const { team } = p as { team?: string };
    const visible = visibleTeams(call.principal);
    const list = await store.breakers.list();
    return {
      breakers: list.filter((b) => {
        const t = teamOfBreaker(b.name);
        if (team && t !== team) return false;
        return !visible || (t !== null && visible.has(t));
      }),
    };
  });

  registry.register(spec('rpc.discover'), async () => ({
    methods: registry.list().map((m) => ({
      name: m.name,
      summary: m.summary,
      params: z.toJSONSchema(m.params, { io: 'input', unrepresentable: 'any' }),
      result: m.result,
      mutating: m.mutating,
      scope: m.scope,
      long: m.long,
    })),
    transportParams: {
      idempotencyKey: 'mutating methods: the same key re-attaches to the same operation instead of starting another',
      build: '<JOB_NAME>#<BUILD_NUMBER> of the calling Jenkins build; recorded in the audit and the journal',
    },
  }));
}

function assertVisible(call: CallContext, op: OperationRecord): void {
  if (op.team && !mayActOn(call.principal, op.team)) {
    throw new SidecarError('FORBIDDEN', `operation ${op.id} belongs to team ${op.team}; token ${call.principal.tokenId} may not see it`, { operationId: op.id, team: op.team });
  }
  if (!op.team && !call.principal.teams.includes('*')) {
    throw new SidecarError('FORBIDDEN', `operation ${op.id} is not a team's operation; only ops tokens may see it`, { operationId: op.id });
  }
}

const teamOfLock = (lockName: string): string => lockName.split(':')[0] ?? '';

/** Breaker names end in `:<team>` (e.g. infrastructure_modification:devops); others are global. */
export function teamOfBreaker(name: string): string | null {
  const i = name.lastIndexOf(':');
  return i >= 0 ? name.slice(i + 1) : null;
}

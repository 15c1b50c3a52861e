import { createHash } from 'node:crypto';
import { z } from 'zod';
import { RPC_CODES } from '../../../catalog/error-codes';
import { BUILD_PATTERN, IDEMPOTENCY_KEY_PATTERN, TRANSPORT_PARAMS } from '../../../catalog/methods/core';
import type { MethodSpec } from '../../../catalog/methods/method-spec';
import { TEAM_NAME_PATTERN } from '../../../catalog/teams-file';
import { SidecarError, isSidecarError } from '../sidecar-error';
import type { Actor, AuditEntry, AuditLog } from '../store/contract';
import { asDependencyDown } from '../store/pg-unreachable';
import type { RunnerLog } from '../operations/runner';
import type { SidecarMetrics } from '../metrics/sidecar-metrics';
import { isOps, mayActOn, type Principal } from './principal';
import { firstUnstorableParam, printableKey, storableText, unstorableReason } from './param-bounds';
import { errorMessage, invalidParams, invalidParamsFrom, methodNotFound, notificationMessage, parseMessage, resultMessage, toRpcError, type RpcErrorBody } from './protocol';
import type { CallContext, MethodRegistry } from './registry';

/**
 * Turns one WebSocket message into one answer: envelope, method lookup,
 * transport params (idempotencyKey, build), schema validation, authorization
 * by MethodSpec.scope, the per-token in-flight limit, the handler, the audit
 * record of a mutating call, metrics. Knows nothing about sockets.
 */
export interface Connection {
  principal: Principal;
  send(text: string): void;
  /** Fires when the socket closes. */
  signal: AbortSignal;
}

/** Who calls and where its progress goes; the socket or an in-process caller. */
export interface Caller {
  principal: Principal;
  signal: AbortSignal;
  progress(event: { operationId: string; [k: string]: unknown }): void;
}

/** A refusal at the JSON-RPC level (unknown method, invalid params), with its exact error body. */
export class RpcFailure extends Error {
  constructor(readonly body: RpcErrorBody) {
    super(body.message);
  }
}

export interface DispatcherDeps {
  registry: MethodRegistry;
  instanceId: string;
  audit?: AuditLog;
  metrics?: SidecarMetrics;
  log: RunnerLog;
  maxInFlightPerToken: number;
  /** Methods that write their own audit record (coordination.update IS the audit). */
  selfAudited?: ReadonlySet<string>;
  /** Check every answer against its method's result schema (default: SIDECAR_CHECK_RESULTS=1). */
  checkResults?: boolean;
}

/**
 * Off in production: the check costs a JSON round trip per answer, and a call whose
 * change already happened would be answered as an error. The integration tests turn it on.
 */
export const resultsCheckedByEnv = (env: NodeJS.ProcessEnv = process.env): boolean => env.SIDECAR_CHECK_RESULTS === '1';

const transportSchema = z.object(TRANSPORT_PARAMS);
/** Above this the audit row keeps the params' names and size, not the params. */
const AUDIT_PARAMS_MAX_BYTES = 32 * 1024;

export class Dispatcher {
  private readonly inFlight = new Map<string, number>();
  /** Messages taken off a socket and not yet answered (handler, audit write, send). */
  private readonly unanswered = new Set<Promise<void>>();

  private readonly checkResults: boolean;

  constructor(private readonly deps: DispatcherDeps) {
    this.checkResults = deps.checkResults ?? resultsCheckedByEnv();
  }

  handle(text: string, conn: Connection): Promise<void> {
    const answering = this.answer(text, conn);
    this.unanswered.add(answering);
    const forget = (): void => void this.unanswered.delete(answering);
    answering.then(forget, forget);
    return answering;
  }

  /** How many received messages are still being answered. */
  unansweredCount(): number {
    return this.unanswered.size;
  }

  /**
   * Waits until every message received so far has been answered, at most `timeoutMs`;
   * resolves with how many were still unanswered. Shutdown calls this after the runner
   * drained and before closing sockets: an operation's end is only half the answer, the
   * dispatcher still writes the audit row and then sends the reply.
   */
  async settle(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    // New messages may arrive on open sockets meanwhile; bounded rounds, each bounded by the deadline.
    for (let round = 0; round < 100 && this.unanswered.size > 0; round++) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.unanswered]),
        new Promise<void>((r) => {
          timer = setTimeout(r, left);
        }),
      ]);
      clearTimeout(timer);
    }
    return this.unanswered.size;
  }

  private async answer(text: string, conn: Connection): Promise<void> {
    const parsed = parseMessage(text);
    if (!parsed.ok) {
      this.count('(invalid)', String(parsed.error.code));
      conn.send(errorMessage(parsed.id, parsed.error));
      return;
    }
    const req = parsed.request;
    const caller: Caller = {
      principal: conn.principal,
      signal: conn.signal,
      progress: (event) => {
        if (!conn.signal.aborted) conn.send(notificationMessage('progress', event));
      },
    };
    try {
      const result = await this.invoke(req.method, req.params, caller);
      if (req.expectsReply) conn.send(resultMessage(req.id, result));
    } catch (err) {
      if (req.expectsReply) conn.send(errorMessage(req.id, err instanceof RpcFailure ? err.body : toRpcError(err)));
    }
  }

  /**
   * One call, from raw params to result: throws RpcFailure for protocol-level
   * refusals (-32601, -32602), SidecarError for domain errors. Also used for
   * calls that do not come over a socket (the dashboard's emergency stop).
   */
  async invoke(methodName: string, rawParams: Record<string, unknown>, caller: Caller): Promise<unknown> {
    const method = this.deps.registry.get(methodName);
    if (!method) {
      this.count('(unknown)', 'method_not_found');
      throw new RpcFailure(methodNotFound(methodName));
    }
    const spec = method.spec;
    // Before any schema: text PostgreSQL cannot store and nesting no walk after us survives.
    const unstorable = firstUnstorableParam(rawParams);
    if (unstorable) throw await this.refused(spec, rawParams, caller, new RpcFailure(invalidParamsFrom([unstorable])));
    const { idempotencyKey, build, ...rest } = rawParams;
    const transport = transportSchema.safeParse({ idempotencyKey, build });
    if (!transport.success) throw await this.refused(spec, rawParams, caller, new RpcFailure(invalidParams(transport.error.issues)));
    const params = spec.params.safeParse(rest);
    if (!params.success) throw await this.refused(spec, rawParams, caller, new RpcFailure(invalidParams(params.error.issues)));
    const team = typeof params.data.team === 'string' ? params.data.team : null;
    const denied = authorize(caller.principal, spec.scope, team, spec.name);
    if (denied) throw await this.refused(spec, rawParams, caller, denied);
    const tokenId = caller.principal.tokenId;
    const current = this.inFlight.get(tokenId) ?? 0;
    if (current >= this.deps.maxInFlightPerToken) {
      const busy = new SidecarError('CONFLICT', `token ${tokenId} already has ${current} calls in flight (limit ${this.deps.maxInFlightPerToken}); wait for one to finish`, { reason: 'in_flight_limit',
        limit: this.deps.maxInFlightPerToken,
      });
      throw await this.refused(spec, rawParams, caller, busy);
    }
    this.inFlight.set(tokenId, current + 1);
    const started = process.hrtime.bigint();
    const actor = { tokenId, instanceId: this.deps.instanceId, ...(transport.data.build ? { build: transport.data.build } : {}) };
    // A self-audited method writes its own SUCCESS row; its failures are recorded here like any other.
    const selfAudited = this.deps.selfAudited?.has(spec.name) ?? false;
    const audited = spec.mutating && this.deps.audit !== undefined;
    // Set when the handler's store write carried the SUCCESS row (one commit for the change and its record).
    let auditedInStore: string | undefined;
    const call: CallContext = {
      method: spec.name,
      actor,
      principal: caller.principal,
      // The journal sees the key within its team (or, without one, its token): another team's key is another operation.
      ...(spec.mutating && transport.data.idempotencyKey ? { idempotencyKey: scopedIdempotencyKey(transport.data.idempotencyKey, team, tokenId) } : {}),
      signal: caller.signal,
      progress: caller.progress,
      ...(audited && !selfAudited
        ? {
            audit: {
              // completedAt left out: the store's now() when the change commits (a lock wait may come first).
              entry: () => auditEntry(spec.name, team, actor, params.data, transport.data.idempotencyKey, { ok: true }, call.operationId),
              written: (id: string) => void (auditedInStore = id),
            },
          }
        : {}),
    };
    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
    try {
      const result = await method.handler(params.data, call);
      const mismatch = this.checkResult(spec, result);
      outcome = mismatch ? { ok: false, error: mismatch } : { ok: true, result };
    } catch (thrown) {
      // The one place a database outage becomes DEPENDENCY_DOWN for the caller (and the audit, metrics).
      const error = asDependencyDown(thrown);
      outcome = { ok: false, error };
      if (!isSidecarError(error)) this.deps.log.error('RPC handler failed', { method: spec.name, error: String((error as Error)?.stack ?? error) });
      else if (error !== thrown) this.deps.log.warn('RPC call failed: coordination database unreachable', { method: spec.name, error: String(thrown) });
    } finally {
      const left = (this.inFlight.get(tokenId) ?? 1) - 1;
      if (left > 0) this.inFlight.set(tokenId, left);
      else this.inFlight.delete(tokenId);
    }
    this.count(spec.name, outcome.ok ? 'ok' : isSidecarError(outcome.error) ? outcome.error.code : 'internal_error');
    this.deps.metrics?.rpcDuration.observe({ method: spec.name }, Number(process.hrtime.bigint() - started) / 1e9);
    // A success whose row the store already committed needs no second one. A failure is recorded here even
    // then (a handler failing after its store write: the row of the change and the row of the failed call).
    if (audited && !(outcome.ok && (auditedInStore || selfAudited))) {
      await this.audit(spec.name, team, actor, params.data, transport.data.idempotencyKey, outcome, call.operationId);
    }
    if (outcome.ok) return outcome.result;
    throw outcome.error;
  }

  /**
   * A call refused before its handler ran: counted, and for a mutating method audited as a FAILURE
   * row before the answer goes out. The row holds what is safe to store (the refusal, the param
   * names, the team and build only when they are valid), never the refused text itself.
   */
  private async refused(spec: MethodSpec, rawParams: Record<string, unknown>, caller: Caller, refusal: RpcFailure | SidecarError): Promise<RpcFailure | SidecarError> {
    this.count(spec.name, refusal instanceof RpcFailure ? 'invalid_params' : refusal.code);
    if (!spec.mutating || !this.deps.audit) return refusal;
    const team = typeof rawParams.team === 'string' && TEAM_NAME_PATTERN.test(rawParams.team) ? rawParams.team : null;
    const build = typeof rawParams.build === 'string' && BUILD_PATTERN.test(rawParams.build) && !unstorableReason(rawParams.build) ? rawParams.build : undefined;
    const key = typeof rawParams.idempotencyKey === 'string' && IDEMPOTENCY_KEY_PATTERN.test(rawParams.idempotencyKey) ? rawParams.idempotencyKey : undefined;
    const actor: Actor = { tokenId: caller.principal.tokenId, instanceId: this.deps.instanceId, ...(build ? { build } : {}) };
    const error =
      refusal instanceof RpcFailure
        ? { code: 'INVALID_PARAMS', message: storableText(refusal.body.message, 1_000), fields: fieldsOf(refusal.body) }
        : { code: refusal.code, message: storableText(refusal.message, 1_000) };
    try {
      await this.deps.audit.record({
        operationType: spec.name,
        team,
        initiatedBy: build ?? actor.tokenId,
        status: 'FAILURE',
        metadata: {
          tokenId: actor.tokenId,
          build: build ?? null,
          instanceId: actor.instanceId,
          refused: true,
          paramNames: Object.keys(rawParams).slice(0, 50).map(printableKey),
          ...(key ? { idempotencyKey: key } : {}),
          error,
        },
        actor,
        completedAt: new Date(),
      });
    } catch (err) {
      this.deps.log.warn('could not write the audit record of a refused call', { method: spec.name, team, error: String(err) });
    }
    return refusal;
  }

  /** With the check on: an answer its result schema refuses, as the internal error the caller gets (logged with the issues). */
  private checkResult(spec: MethodSpec, result: unknown): RpcFailure | null {
    if (!this.checkResults) return null;
    // The schema describes the answer on the wire: Dates as ISO strings, undefined fields gone.
    const wire: unknown = result === undefined ? null : JSON.parse(JSON.stringify(result));
    const checked = spec.result.safeParse(wire);
    if (checked.success) return null;
    const issues = checked.error.issues.slice(0, 20).map((i) => ({ field: ['result', ...i.path.map(String)].join('.'), message: i.message, code: i.code }));
    const text = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
    this.deps.log.error('RPC answer does not match its result schema', { method: spec.name, issues: text });
    return new RpcFailure({ code: RPC_CODES.INTERNAL_ERROR, message: `internal error: the answer of ${spec.name} does not match its result schema: ${text}`, data: { issues } });
  }

  private count(method: string, result: string): void {
    this.deps.metrics?.rpcRequests.inc({ method, result });
  }

  /** Writes the row of a call after it ended. A failed audit write is logged, not fatal to the call. */
  private async audit(
    method: string,
    team: string | null,
    actor: Actor,
    params: Record<string, unknown>,
    idempotencyKey: string | undefined,
    outcome: { ok: true; result: unknown } | { ok: false; error: unknown },
    operationId: string | undefined,
  ): Promise<void> {
    if (!this.deps.audit) return;
    try {
      await this.deps.audit.record({ ...auditEntry(method, team, actor, params, idempotencyKey, outcome, operationId), completedAt: new Date() });
    } catch (err) {
      this.deps.log.warn('could not write the audit record of a call', { method, team, error: String(err) });
    }
  }
}

/** Who (token, build), what (method, params), how it ended: the audit row of one call, written here or by the store. */
function auditEntry(
  method: string,
  team: string | null,
  actor: Actor,
  params: Record<string, unknown>,
  idempotencyKey: string | undefined,
  outcome: { ok: true } | { ok: false; error: unknown },
  operationId: string | undefined,
): AuditEntry {
  const error = outcome.ok ? undefined : isSidecarError(outcome.error) ? { code: outcome.error.code, message: outcome.error.message } : { code: 'INTERNAL', message: 'internal error' };
  return {
    operationType: method,
    team,
    initiatedBy: actor.build ?? actor.tokenId,
    status: outcome.ok ? 'SUCCESS' : 'FAILURE',
    metadata: {
      tokenId: actor.tokenId,
      build: actor.build ?? null,
      instanceId: actor.instanceId,
      params: boundedForAudit(params),
      ...(idempotencyKey ? { idempotencyKey } : {}),
      ...(error ? { error } : {}),
    },
    actor,
    ...(operationId ? { operationId } : {}),
  };
}

/** Params as an audit row keeps them: whole when small, else their names and size (a row stays a few KB). */
function boundedForAudit(params: Record<string, unknown>): Record<string, unknown> {
  const bytes = Buffer.byteLength(JSON.stringify(params), 'utf8');
  if (bytes <= AUDIT_PARAMS_MAX_BYTES) return params;
  return { truncated: true, bytes, names: Object.keys(params).map(printableKey) };
}

const fieldsOf = (body: RpcErrorBody): string[] =>
  Array.isArray(body.data?.issues) ? (body.data.issues as Array<{ field?: unknown }>).slice(0, 20).map((i) => storableText(String(i.field ?? ''), 100)) : [];

/**
 * The key the journal stores for a caller's idempotencyKey: namespaced by the team the call acts on,
 * else by the calling token. A key is only ever shared by callers allowed on the same team, so
 * another team's token can neither read an operation's result by its key nor squat a key a
 * build will use. Keys that would not fit the journal's 200 characters are hashed.
 */
export function scopedIdempotencyKey(key: string, team: string | null, tokenId: string): string {
  const scope = team !== null ? `team:${team}/` : `token:${tokenId}/`;
  const scoped = `${scope}${key}`;
  return scoped.length <= 200 ? scoped : `${scope}sha256:${createHash('sha256').update(key).digest('hex')}`.slice(0, 200);
}

/** MethodSpec.scope → FORBIDDEN or null. `team` scope without a team param lets the handler filter by visible teams. */
export function authorize(principal: Principal, scope: 'team' | 'ops' | 'any', team: string | null, method: string): SidecarError | null {
  if (scope === 'ops' && !isOps(principal)) {
    return new SidecarError('FORBIDDEN', `${method} needs an ops token (teams ["*"]); token ${principal.tokenId} is limited to ${principal.teams.join(', ')}`, {
      tokenId: principal.tokenId,
    });
  }
  if (scope === 'team' && team !== null && !mayActOn(principal, team)) {
    return new SidecarError(
      'FORBIDDEN',
      `token ${principal.tokenId} may act on team(s) ${principal.teams.join(', ')}, not ${team}; use that team's token (Jenkins credential sidecar-token)`,
      { tokenId: principal.tokenId, team },
    );
  }
  return null;
}


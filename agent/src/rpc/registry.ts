import type { MethodParams, MethodResult, MethodSpec } from '../../../catalog/methods/method-spec';
import type { Actor, AuditEntry } from '../store/contract';
import type { Principal } from './principal';

/**
 * What a handler knows about the call besides its params. The transport fills it:
 * who is calling (token and build), the idempotency key, a progress sink (JSON-RPC
 * `progress` notifications to this caller) and a signal that fires when the
 * caller goes away or the sidecar shuts down.
 */
export interface CallContext {
  method: string;
  actor: Actor;
  principal: Principal;
  idempotencyKey?: string;
  progress(event: { operationId: string; [k: string]: unknown }): void;
  signal: AbortSignal;
  /** Set by a handler that ran the call under the journal; the audit record links to it. */
  operationId?: string;
  /**
   * Present on mutating calls the dispatcher audits. A handler whose one store write can
   * carry the row (lock.acquire/renew/release, see LockStore `audit`) passes `entry()` (the
   * SUCCESS row) to the store and reports the id the store returns with `written(id)`;
   * the dispatcher then writes no second row for the call when it succeeds, saving a commit.
   * A failed call is still recorded by the dispatcher (FAILURE row).
   */
  audit?: { entry(): AuditEntry; written(id: string): void };
}

export type Handler<S extends MethodSpec = MethodSpec> = (params: MethodParams<S>, call: CallContext) => Promise<MethodResult<S>>;

/** A method and its handler, type-checked together by `bind` and then kept without the precise types. */
export interface RegisteredMethod {
  spec: MethodSpec;
  handler: (params: Record<string, unknown>, call: CallContext) => Promise<unknown>;
}

/** Pairs a spec with its handler: params and result types come from the spec (a wrong answer shape does not compile). */
export function bind<S extends MethodSpec>(spec: S, handler: Handler<S>): RegisteredMethod {
  // The dispatcher hands the handler only params its spec validated (MethodParams<S>).
  return { spec, handler: handler as RegisteredMethod['handler'] };
}

/**
 * The methods this sidecar serves. Each area registers its handlers with
 * `register<Area>Methods(registry, deps)` (see methods/core.ts); a handler is
 * thin: it gets validated params, calls one operation and maps the result.
 */
export class MethodRegistry {
  private readonly methods = new Map<string, RegisteredMethod>();

  register<S extends MethodSpec>(spec: S, handler: Handler<S>): void {
    this.add(bind(spec, handler));
  }

  /** Registers methods bound with `bind` (an area's list of {spec, handler}). */
  add(...methods: RegisteredMethod[]): void {
    for (const m of methods) {
      if (this.methods.has(m.spec.name)) throw new Error(`RPC method ${m.spec.name} is registered twice`);
      this.methods.set(m.spec.name, m);
    }
  }

  get(name: string): RegisteredMethod | undefined {
    return this.methods.get(name);
  }

  list(): MethodSpec[] {
    return [...this.methods.values()].map((m) => m.spec).sort((a, b) => a.name.localeCompare(b.name));
  }
}

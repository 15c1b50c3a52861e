import type { z } from 'zod';
import { RPC_CODES } from '../../../catalog/error-codes';
import { isSidecarError } from '../sidecar-error';

/**
 * JSON-RPC 2.0 envelopes and the ONE place where errors become JSON-RPC errors:
 * domain errors (SidecarError) → -32000 with `data.code`; invalid params → -32602
 * with each field; anything else → -32603 without internals.
 */
export type RpcId = string | number | null;

export interface RpcRequest {
  id: RpcId;
  /** false for a notification (no id): the server must not answer it. */
  expectsReply: boolean;
  method: string;
  params: Record<string, unknown>;
}

export interface RpcErrorBody {
  code: number;
  message: string;
  data?: Record<string, unknown>;
}

export type ParsedMessage = { ok: true; request: RpcRequest } | { ok: false; id: RpcId; error: RpcErrorBody };

const METHOD_NAME = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/;

/** Text off the wire → a request, or the error to answer with. Pure. */
export function parseMessage(text: string): ParsedMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, id: null, error: { code: RPC_CODES.PARSE_ERROR, message: `parse error: ${(err as Error).message}` } };
  }
  if (Array.isArray(value)) {
    return { ok: false, id: null, error: { code: RPC_CODES.INVALID_REQUEST, message: 'invalid request: batches are not supported; send one request per message' } };
  }
  if (!value || typeof value !== 'object') {
    return { ok: false, id: null, error: { code: RPC_CODES.INVALID_REQUEST, message: 'invalid request: expected a JSON object' } };
  }
  const msg = value as Record<string, unknown>;
  const rawId = msg.id;
  const idValid = rawId === undefined || rawId === null || typeof rawId === 'string' || (typeof rawId === 'number' && Number.isFinite(rawId));
  const id: RpcId = idValid && rawId !== undefined ? (rawId as RpcId) : null;
  const invalid = (why: string): ParsedMessage => ({ ok: false, id, error: { code: RPC_CODES.INVALID_REQUEST, message: `invalid request: ${why}` } });
  if (msg.jsonrpc !== '2.0') return invalid('"jsonrpc" must be "2.0"');
  if (!idValid) return invalid('"id" must be a string, a number or null');
  if (typeof msg.method !== 'string' || !METHOD_NAME.test(msg.method) || msg.method.length > 100) return invalid('"method" must be a method name such as lock.acquire');
  if (msg.params !== undefined && (msg.params === null || typeof msg.params !== 'object' || Array.isArray(msg.params))) {
    return { ok: false, id, error: { code: RPC_CODES.INVALID_PARAMS, message: 'invalid params: "params" must be an object of named parameters', data: { issues: [{ field: 'params', message: 'expected an object' }] } } };
  }
  return { ok: true, request: { id, expectsReply: rawId !== undefined, method: msg.method, params: (msg.params as Record<string, unknown>) ?? {} } };
}

export function resultMessage(id: RpcId, result: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, result: result === undefined ? null : result });
}

export function errorMessage(id: RpcId, error: RpcErrorBody): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}

export function notificationMessage(method: string, params: Record<string, unknown>): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}

/** zod issues → -32602 naming each field (`params.ttlSec`, …). */
export function invalidParams(issues: readonly z.core.$ZodIssue[], prefix = ''): RpcErrorBody {
  const list = issues.map((i) => {
    const field = [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(params)';
    return { field, message: i.message, code: i.code };
  });
  const text = list.map((i) => `${i.field}: ${i.message}`).join('; ');
  return { code: RPC_CODES.INVALID_PARAMS, message: `invalid params: ${text}`, data: { issues: list } };
}

/** Issues found before the schema (param-bounds.ts) → -32602 of the same shape. */
export function invalidParamsFrom(list: ReadonlyArray<{ field: string; message: string; code: string }>): RpcErrorBody {
  const text = list.map((i) => `${i.field}: ${i.message}`).join('; ');
  return { code: RPC_CODES.INVALID_PARAMS, message: `invalid params: ${text}`, data: { issues: list.map((i) => ({ ...i })) } };
}

export function methodNotFound(method: string): RpcErrorBody {
  return { code: RPC_CODES.METHOD_NOT_FOUND, message: `method ${method} not found; rpc.discover lists the methods this sidecar serves` };
}

/** Any thrown value → the JSON-RPC error a caller sees. Internals stay in the log. */
export function toRpcError(err: unknown): RpcErrorBody {
  if (isSidecarError(err)) {
    return { code: RPC_CODES.DOMAIN_ERROR, message: err.message, data: { ...jsonSafe(err.data), code: err.code } };
  }
  return { code: RPC_CODES.INTERNAL_ERROR, message: 'internal error; the sidecar log has the details' };
}

/** Dates → ISO strings, so error data survives JSON the same way results do. */
function jsonSafe(data: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(data)) as Record<string, unknown>;
}

import { renameSync, writeFileSync } from 'node:fs';
import type { RpcError as RpcErrorObject } from '../rpc/client';

/** sidecarctl's exit codes; the generated Groovy steps rely on them. */
export const EXIT = { OK: 0, USAGE: 2, SIDECAR_ERROR: 3, CONNECT: 4 } as const;

export interface CtlIO {
  env: Record<string, string | undefined>;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** A mistake in the command line itself: exit 2. */
export class UsageError extends Error {}

const PROTOCOL_NAMES: Record<number, string> = {
  [-32700]: 'PARSE_ERROR',
  [-32600]: 'INVALID_REQUEST',
  [-32601]: 'METHOD_NOT_FOUND',
  [-32602]: 'INVALID_PARAMS',
  [-32603]: 'INTERNAL_ERROR',
};

export function symbolicCode(error: RpcErrorObject): string {
  if (typeof error.data?.code === 'string') return error.data.code;
  return PROTOCOL_NAMES[error.code] ?? `RPC_${error.code}`;
}

/**
 * The refinement of a code (`data.reason`, e.g. CONFLICT's target_serving) when it has
 * the shape of one: a pipeline switches on it, so nothing else is passed on.
 */
export function errorReason(error: RpcErrorObject): string | null {
  const reason = error.data?.reason;
  return typeof reason === 'string' && /^[a-z][a-z0-9_]{0,39}$/.test(reason) ? reason : null;
}

/** `sidecarctl: CONFLICT (target_serving): message` — the line the Groovy steps read when there is no result file. */
export function errorLine(error: RpcErrorObject): string {
  const reason = errorReason(error);
  return `sidecarctl: ${symbolicCode(error)}${reason ? ` (${reason})` : ''}: ${error.message}\n`;
}

/** What --result-file holds for an error: the JSON-RPC error plus the symbolic code and reason. */
export function errorFileText(error: RpcErrorObject): string {
  const reason = errorReason(error);
  return `${JSON.stringify({ error: { ...error, symbolicCode: symbolicCode(error), ...(reason ? { reason } : {}) } }, null, 2)}\n`;
}

export function parseJsonObject(text: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${where} must be a JSON object, e.g. '{"team":"devops"}'`);
  return value as Record<string, unknown>;
}

export function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** ws://host:port/rpc → http://host:port (the read API on the same listener). */
export function httpBase(rpcUrl: string): string {
  const u = new URL(rpcUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '';
  u.search = '';
  return u.toString().replace(/\/$/, '');
}

import { callOnce, ConnectError, type RpcError as RpcErrorObject, type RpcReply as CallResult } from '../rpc/client';
import { type CtlIO, errorFileText, errorLine, EXIT, httpBase, writeAtomically } from './ctl-output';

/** One sidecarctl run: where the sidecar is, how to reach it, and the exit code so far. */
export interface CtlSession {
  io: CtlIO;
  url: string;
  exitCode: number;
  token(): string;
  /** `onResult`: a command's extra words on stderr beside the JSON result (stdout stays machine-readable). */
  rpc(method: string, params: Record<string, unknown>, resultFile?: string, onResult?: (result: unknown) => void): Promise<void>;
  /** GET on the read API beside the RPC endpoint. */
  rest(path: string): Promise<void>;
  /** One RPC whose result the command prints itself; an error is reported (stderr, exit 3) as rpc() does and null returned. */
  result(method: string, params: Record<string, unknown>): Promise<unknown | null>;
}

export function createSession(io: CtlIO): CtlSession {
  const session: CtlSession = {
    io,
    url: io.env.SIDECAR_URL || 'ws://127.0.0.1:8765/rpc',
    exitCode: EXIT.OK,
    token: () => {
      const t = io.env.SIDECAR_TOKEN?.trim();
      if (!t) throw new ConnectError('SIDECAR_TOKEN is not set: export the sidecar token (Jenkins credential sidecar-token)');
      return t;
    },
    rpc: async (method, params, resultFile, onResult) => {
      const res = await callReattaching(session, method, params);
      if (res.ok) {
        const text = `${JSON.stringify(res.result, null, 2)}\n`;
        if (resultFile) writeAtomically(resultFile, text);
        else io.stdout(text);
        onResult?.(res.result);
        session.exitCode = EXIT.OK;
        return;
      }
      reportError(session, res.error);
      if (resultFile) writeAtomically(resultFile, errorFileText(res.error));
    },
    rest: (path) => getRest(session, path),
    result: async (method, params) => {
      const res = await callReattaching(session, method, params);
      if (res.ok) {
        session.exitCode = EXIT.OK;
        return res.result;
      }
      reportError(session, res.error);
      return null;
    },
  };
  return session;
}

function reportError(session: CtlSession, error: RpcErrorObject): void {
  session.io.stderr(errorLine(error));
  if (error.data && Object.keys(error.data).length > 1) session.io.stderr(`sidecarctl: error data: ${JSON.stringify(error.data)}\n`);
  session.exitCode = EXIT.SIDECAR_ERROR;
}

/**
 * With an idempotencyKey a lost connection is harmless: the same call re-attaches to the same
 * operation (the sidecar restarting mid-switch is the case this exists for). Bounded in time
 * by SIDECARCTL_RECONNECT_SEC (default 120).
 */
async function callReattaching(session: CtlSession, method: string, params: Record<string, unknown>): Promise<CallResult> {
  const { io } = session;
  const once = () => callOnce({ url: session.url, token: session.token(), method, params, onProgress: (p) => io.stderr(`progress: ${JSON.stringify(p)}\n`) });
  const reconnectSec = Number(io.env.SIDECARCTL_RECONNECT_SEC ?? 120);
  const key = typeof params.idempotencyKey === 'string' ? params.idempotencyKey : null;
  const giveUpAt = Date.now() + (Number.isFinite(reconnectSec) ? Math.max(0, reconnectSec) : 120) * 1000;
  let delayMs = 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await once();
    } catch (err) {
      if (!(err instanceof ConnectError) || !err.retryable || !key || Date.now() + delayMs > giveUpAt) throw err;
      io.stderr(`sidecarctl: ${err.message}; retrying with idempotencyKey ${key} in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1})\n`);
      await new Promise((r) => setTimeout(r, delayMs));
      delayMs = Math.min(delayMs * 2, 5_000);
    }
  }
}

async function getRest(session: CtlSession, path: string): Promise<void> {
  const target = `${httpBase(session.url)}${path}`;
  let res: Response;
  try {
    res = await fetch(target, { headers: { Authorization: `Bearer ${session.token()}` }, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new ConnectError(`cannot reach the sidecar at ${target}: ${(err as Error).message}`);
  }
  const body = await res.text();
  if (res.status === 401) throw new ConnectError(`sidecar refused the token (HTTP 401): ${body.trim()}`);
  if (!res.ok) {
    session.io.stderr(`sidecarctl: HTTP ${res.status}: ${body.trim()}\n`);
    session.exitCode = EXIT.SIDECAR_ERROR;
    return;
  }
  session.io.stdout(`${JSON.stringify(JSON.parse(body), null, 2)}\n`);
}

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { emergencyStopNote } from './emergency-stop-note';
import { callOnce, ConnectError, type RpcReply as CallResult, type RpcError as RpcErrorObject } from '../rpc/client';

/**
 * sidecarctl: the client the generated Groovy steps shell out to, and the ops
 * CLI. Exit codes (the steps rely on them): 0 ok, 2 usage (incl. bad JSON),
 * 3 the sidecar answered with an error (its symbolic code printed on stderr;
 * with --result-file the file holds {"error": {...}}), 4 cannot connect or
 * authenticate. A call carrying an idempotencyKey is retried (re-attached) when
 * the connection fails or drops, for up to SIDECARCTL_RECONNECT_SEC (default 120). It starts in every pipeline step, so it loads only commander,
 * ws and node builtins.
 */
export const EXIT = { OK: 0, USAGE: 2, SIDECAR_ERROR: 3, CONNECT: 4 } as const;

export interface CtlIO {
  env: Record<string, string | undefined>;
  stdout(text: string): void;
  stderr(text: string): void;
}

class UsageError extends Error {}

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

function parseJsonObject(text: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${where} must be a JSON object, e.g. '{"team":"devops"}'`);
  return value as Record<string, unknown>;
}

function writeAtomically(path: string, text: string): void {
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

export async function runSidecarctl(argv: string[], io: CtlIO): Promise<number> {
  const url = io.env.SIDECAR_URL || 'ws://127.0.0.1:8765/rpc';
  const token = (): string => {
    const t = io.env.SIDECAR_TOKEN?.trim();
    if (!t) throw new ConnectError('SIDECAR_TOKEN is not set: export the sidecar token (Jenkins credential sidecar-token)');
    return t;
  };
  let exitCode: number = EXIT.OK;

  const reconnectSec = Number(io.env.SIDECARCTL_RECONNECT_SEC ?? 120);
  /** `onResult`: a command's extra words on stderr beside the JSON result (stdout stays machine-readable). */
  const rpc = async (method: string, params: Record<string, unknown>, resultFile?: string, onResult?: (result: unknown) => void): Promise<void> => {
    const once = () => callOnce({ url, token: token(), method, params, onProgress: (p) => io.stderr(`progress: ${JSON.stringify(p)}\n`) });
    let res: CallResult;
    // With an idempotencyKey a lost connection is harmless: the same call re-attaches to the same
    // operation (the sidecar restarting mid-switch is the case this exists for). Bounded in time.
    const key = typeof params.idempotencyKey === 'string' ? params.idempotencyKey : null;
    const giveUpAt = Date.now() + (Number.isFinite(reconnectSec) ? Math.max(0, reconnectSec) : 120) * 1000;
    let delayMs = 500;
    for (let attempt = 1; ; attempt++) {
      try {
        res = await once();
        break;
      } catch (err) {
        if (!(err instanceof ConnectError) || !err.retryable || !key || Date.now() + delayMs > giveUpAt) throw err;
        io.stderr(`sidecarctl: ${err.message}; retrying with idempotencyKey ${key} in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1})\n`);
        await new Promise((r) => setTimeout(r, delayMs));
        delayMs = Math.min(delayMs * 2, 5_000);
      }
    }
    if (res.ok) {
      const text = `${JSON.stringify(res.result, null, 2)}\n`;
      if (resultFile) writeAtomically(resultFile, text);
      else io.stdout(text);
      onResult?.(res.result);
      exitCode = EXIT.OK;
      return;
    }
    const code = symbolicCode(res.error);
    io.stderr(`sidecarctl: ${code}: ${res.error.message}\n`);
    if (res.error.data && Object.keys(res.error.data).length > 1) io.stderr(`sidecarctl: error data: ${JSON.stringify(res.error.data)}\n`);
    if (resultFile) writeAtomically(resultFile, `${JSON.stringify({ error: { ...res.error, symbolicCode: code } }, null, 2)}\n`);
    exitCode = EXIT.SIDECAR_ERROR;
  };

  const rest = async (path: string): Promise<void> => {
    const target = `${httpBase(url)}${path}`;
    let res: Response;
    try {
      res = await fetch(target, { headers: { Authorization: `Bearer ${token()}` }, signal: AbortSignal.timeout(15_000) });
    } catch (err) {
      throw new ConnectError(`cannot reach the sidecar at ${target}: ${(err as Error).message}`);
    }
    const body = await res.text();
    if (res.status === 401) throw new ConnectError(`sidecar refused the token (HTTP 401): ${body.trim()}`);
    if (!res.ok) {
      io.stderr(`sidecarctl: HTTP ${res.status}: ${body.trim()}\n`);
      exitCode = EXIT.SIDECAR_ERROR;
      return;
    }
    io.stdout(`${JSON.stringify(JSON.parse(body), null, 2)}\n`);
  };

  const program = new Command('sidecarctl')
    .description('Talk to the jenkins-sidecar (SIDECAR_URL, default ws://127.0.0.1:8765/rpc; token from SIDECAR_TOKEN)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError(false);

  program
    .command('call')
    .description('one RPC: progress to stderr, the JSON result to stdout (or --result-file)')
    .argument('<method>', 'e.g. lock.acquire')
    .addOption(new Option('--params <json>', 'params as a JSON object').conflicts('paramsFile'))
    .option('--params-file <file>', 'read params from a JSON file')
    .option('--result-file <file>', 'write the JSON result (or {"error":...}) to this file')
    .action(async (method: string, o: { params?: string; paramsFile?: string; resultFile?: string }) => {
      if (!/^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$/.test(method)) throw new UsageError(`'${method}' is not a method name such as lock.acquire`);
      let params: Record<string, unknown> = {};
      if (o.params !== undefined) params = parseJsonObject(o.params, '--params');
      else if (o.paramsFile !== undefined) {
        let text: string;
        try {
          text = readFileSync(o.paramsFile, 'utf8');
        } catch (err) {
          throw new UsageError(`--params-file ${o.paramsFile}: cannot read: ${(err as Error).message}`);
        }
        params = parseJsonObject(text, `--params-file ${o.paramsFile}`);
      }
      await rpc(method, params, o.resultFile);
    });

  program
    .command('status')
    .description("a team's environments (environment.status), or every team (GET /api/v1/teams)")
    .option('--team <team>', 'one team')
    .action(async (o: { team?: string }) => (o.team ? rpc('environment.status', { team: o.team, containers: true }) : rest('/api/v1/teams')));

  program
    .command('locks')
    .description('live locks (lock.list)')
    .option('--team <team>', 'one team')
    .action(async (o: { team?: string }) => rpc('lock.list', o.team ? { team: o.team } : {}));

  program
    .command('audit')
    .description('the audit trail, newest first (GET /api/v1/audit)')
    .option('--team <team>', 'one team')
    .option('--limit <n>', 'how many entries', '50')
    .action(async (o: { team?: string; limit: string }) => {
      if (!/^\d{1,4}$/.test(o.limit) || Number(o.limit) < 1) throw new UsageError(`--limit must be a number from 1 to 1000, got '${o.limit}'`);
      const q = new URLSearchParams({ limit: o.limit, ...(o.team ? { team: o.team } : {}) });
      await rest(`/api/v1/audit?${q.toString()}`);
    });

  program
    .command('emergency-stop')
    .description('stop whatever runs for the team and put traffic back on the last known good side (rollback.emergency)')
    .requiredOption('--team <team>', 'the team')
    .requiredOption('--reason <reason>', 'why (goes to the audit trail)')
    .option('--target <env>', 'blue or green (default: last known good)')
    .action(async (o: { team: string; reason: string; target?: string }) =>
      rpc('rollback.emergency', { team: o.team, reason: o.reason, ...(o.target ? { target: o.target } : {}) }, undefined, (result) => {
        const note = emergencyStopNote(result);
        if (note) io.stderr(note);
      }),
    );

  program
    .command('doctor')
    .description('check this host for the sidecar: config, token file permissions, PostgreSQL and clock skew, HAProxy admin socket, Docker, versions (exit 1 when something must be fixed)')
    .option('--config <file>', 'the YAML config the sidecar is started with (jenkins-sidecar --config)')
    .option('--json', 'print the checks as JSON')
    .option('--skip-sidecar', 'do not ask a running sidecar for /readyz')
    .action(async (o: { config?: string; json?: boolean; skipSidecar?: boolean }) => {
      // Loaded only here: the doctor needs pg, dockerode and yaml, which every pipeline step's call must not pay for.
      const { doctorCommand } = require('../doctor/command') as typeof import('../doctor/command');
      exitCode = await doctorCommand({ config: o.config, json: o.json, skipSidecar: o.skipSidecar, env: io.env, write: io.stdout });
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help / --version are "errors" to commander but not to the user.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (err instanceof UsageError) {
      io.stderr(`sidecarctl: ${err.message}\n`);
      return EXIT.USAGE;
    }
    if (err instanceof ConnectError) {
      io.stderr(`sidecarctl: ${err.message}\n`);
      return EXIT.CONNECT;
    }
    io.stderr(`sidecarctl: ${(err as Error)?.message ?? String(err)}\n`);
    return EXIT.CONNECT;
  }
}

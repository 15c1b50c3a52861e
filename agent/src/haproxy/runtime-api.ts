import { connect, type Socket } from 'node:net';
import { SidecarError } from '../sidecar-error';
import {
  joinCommands,
  SHOW_STAT_COMMAND,
  setStateCommand,
  setWeightCommand,
  showServersStateCommand,
  type ServerAdminState,
} from './commands';
import { parseShowTable, showTableCommand, type PeopleCounters } from './people-table';
import { parseServersState, parseShowStat, type ServerStat, type ServerState } from './stats';

/**
 * HAProxy Runtime API client: one connection per command line (write the
 * line, read to EOF), over a unix socket or TCP. A missing socket, a refused
 * connection or a silent one past the timeout is DEPENDENCY_DOWN with the
 * endpoint in the message.
 */
export type RuntimeEndpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export function parseRuntimeEndpoint(value: string): RuntimeEndpoint {
  if (value.startsWith('/')) return { kind: 'unix', path: value };
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}|localhost):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new SidecarError('DEPENDENCY_DOWN', `SIDECAR_HAPROXY_SOCKET must be a unix socket path (/run/haproxy/admin.sock) or host:port, got ${JSON.stringify(value)}`, { value });
  }
  return { kind: 'tcp', host: m[1], port: Number(m[2]) };
}

export const describeEndpoint = (e: RuntimeEndpoint): string => (e.kind === 'unix' ? e.path : `${e.host}:${e.port}`);

/** What the traffic logic needs from HAProxy; HaproxyRuntime is the real one. */
export interface HaproxyDriver {
  /** Applies all weights in one command line (one CLI session, back to back). */
  setWeights(changes: Array<{ backend: string; server: string; weight: number }>): Promise<void>;
  setState(backend: string, server: string, state: ServerAdminState): Promise<void>;
  showStat(): Promise<ServerStat[]>;
  showServersState(backend?: string): Promise<ServerState[]>;
  /** A team's people table (people-table.ts) by server; absent in drivers that have none. */
  peopleCounters?(table: string): Promise<Map<string, PeopleCounters>>;
}

export interface HaproxyRuntimeOptions {
  timeoutMs?: number;
}

export class HaproxyRuntime implements HaproxyDriver {
  readonly endpoint: RuntimeEndpoint;
  private readonly timeoutMs: number;

  constructor(endpoint: RuntimeEndpoint | string, opts: HaproxyRuntimeOptions = {}) {
    this.endpoint = typeof endpoint === 'string' ? parseRuntimeEndpoint(endpoint) : endpoint;
    this.timeoutMs = opts.timeoutMs ?? 2000;
  }

  /** Sends one line (already built from checked names) and returns the raw reply. */
  async send(line: string): Promise<string> {
    // Lines are built from checked names (commands.ts): a newline here is a programming mistake, answered INTERNAL.
    if (/[\n\r]/.test(line)) throw new Error('a Runtime API line must not contain a newline');
    const where = describeEndpoint(this.endpoint);
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const chunks: Buffer[] = [];
      const done = (err: Error | null, value?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(value ?? '');
      };
      const sock: Socket = this.endpoint.kind === 'unix' ? connect(this.endpoint.path) : connect(this.endpoint.port, this.endpoint.host);
      const timer = setTimeout(() => {
        done(new SidecarError('DEPENDENCY_DOWN', `HAProxy Runtime API at ${where} did not answer within ${this.timeoutMs} ms; check that haproxy is running and not overloaded`, { endpoint: where, reason: 'timeout' }));
      }, this.timeoutMs);
      sock.on('connect', () => sock.write(`${line}\n`));
      sock.on('data', (d: Buffer) => chunks.push(d));
      sock.on('end', () => done(null, Buffer.concat(chunks).toString('utf8')));
      sock.on('error', (err: NodeJS.ErrnoException) => {
        done(
          new SidecarError(
            'DEPENDENCY_DOWN',
            `HAProxy Runtime API at ${where} is unreachable (${err.code ?? err.message}); check that haproxy is running and SIDECAR_HAPROXY_SOCKET points at its admin stats socket`,
            { endpoint: where, reason: err.code ?? err.message },
            { cause: err },
          ),
        );
      });
    });
  }

  /** For `set` commands success is an empty reply; anything else is HAProxy's refusal. */
  private async sendSet(line: string): Promise<void> {
    const reply = (await this.send(line)).trim();
    if (reply.length > 0) {
      const notFound = /No such (server|backend)/i.test(reply);
      const refusal = `HAProxy refused "${line}": ${reply}`;
      throw notFound ? new SidecarError('NOT_FOUND', refusal, { command: line, reply }) : new SidecarError('CONFLICT', refusal, { reason: 'haproxy_refused', command: line, reply });
    }
  }

  async setWeights(changes: Array<{ backend: string; server: string; weight: number }>): Promise<void> {
    if (changes.length === 0) return;
    await this.sendSet(joinCommands(changes.map((c) => setWeightCommand(c.backend, c.server, c.weight))));
  }

  async setState(backend: string, server: string, state: ServerAdminState): Promise<void> {
    await this.sendSet(setStateCommand(backend, server, state));
  }

  async showStat(): Promise<ServerStat[]> {
    return parseShowStat(await this.send(SHOW_STAT_COMMAND));
  }

  async showServersState(backend?: string): Promise<ServerState[]> {
    const reply = await this.send(showServersStateCommand(backend));
    if (/^Can't find backend/m.test(reply)) {
      throw new SidecarError('NOT_FOUND', `HAProxy has no backend ${backend}; regenerate and reload the HAProxy config (library-gen build)`, { backend });
    }
    return parseServersState(reply);
  }

  async peopleCounters(table: string): Promise<Map<string, PeopleCounters>> {
    const reply = await this.send(showTableCommand(table));
    if (/^No such table/m.test(reply)) {
      throw new SidecarError('NOT_FOUND', `HAProxy has no table ${table}; regenerate and reload the HAProxy config (library-gen build)`, { table });
    }
    return parseShowTable(reply);
  }

  /** Readiness probe: any answer from the API. */
  async ping(): Promise<void> {
    await this.send('show info');
  }
}

/** When SIDECAR_HAPROXY_SOCKET is not set: every call says so (DEPENDENCY_DOWN), nothing else breaks. */
export function unconfiguredHaproxy(): HaproxyDriver {
  const fail = async (): Promise<never> => {
    throw new SidecarError('DEPENDENCY_DOWN', 'HAProxy is not configured on this sidecar: set SIDECAR_HAPROXY_SOCKET to its admin stats socket (unix path or host:port) and restart', {});
  };
  return { setWeights: fail, setState: fail, showStat: fail, showServersState: fail };
}

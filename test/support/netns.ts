import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryDir } from '../../agent/src/store/embedded-postgres';
import { ERROR_CODES } from '../../catalog/error-codes';
import { REPO_ROOT, SIDECARCTL_BIN, startSidecarProcess, type SidecarProcess } from './sidecar-process';

/**
 * Test hosts as Linux network namespaces. One "hub" namespace holds a bridge
 * (the LAN) and the PostgreSQL server every host shares; each host namespace
 * has a veth into that bridge and an address on a private /24 that exists only
 * inside these namespaces. Nothing is created in the root namespace and the
 * root namespace never sends traffic to these addresses: everything that talks
 * to a host runs inside it through `ip netns exec`. Names carry a random
 * suffix so parallel runs never meet; destroy() deletes every namespace (and
 * the processes in them) and is safe to call more than once.
 */
const SUBNET = '10.203.7';
export const HUB_ADDRESS = `${SUBNET}.1`;
const PG_PORT = 5432;
const PG_PASSWORD = 'embedded'; // what startEmbeddedPostgres() sets at initdb

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface NetnsHost {
  name: string;
  ns: string;
  address: string;
}

export interface NetnsLab {
  id: string;
  hub: string;
  hosts: NetnsHost[];
  /** postgres://… at HUB_ADDRESS, reachable from every host namespace (and only there). */
  databaseUrl: string;
  /** Runs argv inside `ns`, bounded by timeoutMs (SIGKILL when over). */
  exec(ns: string, argv: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<ExecResult>;
  /** Takes the host's link down: every packet to the LAN fails at once. */
  cut(host: NetnsHost): void;
  restore(host: NetnsHost): void;
  /** Silent partition: packets to the LAN are dropped (connections hang, as in a real partition). */
  partition(host: NetnsHost): void;
  heal(host: NetnsHost): void;
  destroy(): Promise<void>;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

/** Where the `postgres` user can run the embedded binaries from (startEmbeddedPostgres copies them when the checkout is not reachable). */
function runnablePostgresBin(): string {
  const candidates = [binaryDir(), ...readdirSync('/var/tmp').filter((d) => d.startsWith('jsm-embedded-postgres-')).map((d) => join('/var/tmp', d, 'bin'))];
  for (const dir of candidates) {
    try {
      execFileSync('setpriv', ['--reuid=postgres', '--regid=postgres', '--clear-groups', 'test', '-x', join(dir, 'postgres')], { timeout: 5_000 });
      return dir;
    } catch {
      // not reachable by postgres; try the next
    }
  }
  throw new Error(`the postgres user cannot run any of ${candidates.join(', ')}`);
}

function runAsPostgres(argv: string[], dir: string): Promise<void> {
  return new Promise((ok, fail) => {
    // The postgres user must be able to create the data dir inside ours.
    chownSync(dir, postgresIds().uid, postgresIds().gid);
    execFile('setpriv', ['--reuid=postgres', '--regid=postgres', '--clear-groups', ...argv], { timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } }, (err, stdout, stderr) =>
      err ? fail(new Error(`${argv[0]} failed: ${err.message}\n${stdout}${stderr}`)) : ok(),
    );
  });
}

function postgresIds(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  };
}

/** Creates the hub and `hostCount` hosts, starts PostgreSQL in the hub. */
export async function createNetnsLab(hostCount: number): Promise<NetnsLab> {
  const id = `jsm${randomBytes(3).toString('hex')}`;
  const hub = `${id}-hub`;
  const hosts: NetnsHost[] = Array.from({ length: hostCount }, (_, i) => ({ name: `h${i + 1}`, ns: `${id}-h${i + 1}`, address: `${SUBNET}.${11 + i}` }));
  const created: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), `${id}-`));
  chmodSync(dir, 0o711);
  let pg: ChildProcess | null = null;
  const children = new Set<ChildProcess>();

  const destroy = async (): Promise<void> => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (pg && pg.exitCode === null && pg.signalCode === null) {
      const p = pg;
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGQUIT'); // immediate shutdown: the data dir is thrown away
      const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(t);
    }
    for (const ns of created.splice(0).reverse()) {
      // Anything still running inside (a sidecar the test forgot) dies with its namespace's processes.
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5_000 }).split('\n').filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // already gone
          }
        }
        ip(['netns', 'del', ns]);
      } catch {
        // already deleted
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    ip(['netns', 'add', hub]);
    created.push(hub);
    ip(['-n', hub, 'link', 'set', 'lo', 'up']);
    ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', hub, 'addr', 'add', `${HUB_ADDRESS}/24`, 'dev', 'br0']);
    ip(['-n', hub, 'link', 'set', 'br0', 'up']);
    for (const [i, h] of hosts.entries()) {
      ip(['netns', 'add', h.ns]);
      created.push(h.ns);
      ip(['-n', h.ns, 'link', 'set', 'lo', 'up']);
      // Both ends are born inside their namespaces: nothing appears in the root namespace.
      ip(['link', 'add', 'name', `p${i + 1}`, 'netns', hub, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
      ip(['-n', hub, 'link', 'set', `p${i + 1}`, 'master', 'br0']);
      ip(['-n', hub, 'link', 'set', `p${i + 1}`, 'up']);
      ip(['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
      ip(['-n', h.ns, 'link', 'set', 'eth0', 'up']);
    }

    // initdb as `postgres` without fsync (a throwaway cluster), then serve it from the hub.
    const bin = runnablePostgresBin();
    const dataDir = join(dir, 'pg');
    const pwFile = join(dir, 'pgpw');
    writeFileSync(pwFile, `${PG_PASSWORD}\n`, { mode: 0o644 });
    await runAsPostgres([join(bin, 'initdb'), `--pgdata=${dataDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwFile}`, '--locale=C', '--encoding=UTF8', '--no-sync'], dir);
    rmSync(pwFile);
    appendFileSync(join(dataDir, 'pg_hba.conf'), `\nhost all all ${SUBNET}.0/24 scram-sha-256\n`);
    let pgLog = '';
    const child = spawn(
      'ip',
      [
        'netns', 'exec', hub,
        'setpriv', '--reuid=postgres', '--regid=postgres', '--clear-groups',
        join(bin, 'postgres'), '-D', dataDir, '-p', String(PG_PORT),
        '-c', `listen_addresses=${HUB_ADDRESS}`, '-c', 'unix_socket_directories=', '-c', 'max_connections=200', '-c', 'fsync=off',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
    );
    pg = child;
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`PostgreSQL in ${hub} not ready within 20 s:\n${pgLog}`)), 20_000);
      const onData = (b: Buffer): void => {
        pgLog = (pgLog + b.toString()).slice(-20_000);
        if (pgLog.includes('ready to accept connections')) {
          clearTimeout(t);
          ok();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(t);
        fail(new Error(`PostgreSQL in ${hub} exited (${code}):\n${pgLog}`));
      });
    });
  } catch (err) {
    await destroy();
    throw err;
  }

  const exec = (ns: string, argv: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ExecResult> =>
    new Promise((ok) => {
      const child = execFile(
        'ip',
        ['netns', 'exec', ns, ...argv],
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...opts.env }, timeout: opts.timeoutMs ?? 15_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          children.delete(child);
          const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
          ok({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout: String(stdout), stderr: String(stderr), timedOut: !!e?.killed });
        },
      );
      children.add(child);
    });

  const dropRule = () => ['OUTPUT', '-d', `${SUBNET}.0/24`, '-j', 'DROP'];
  return {
    id,
    hub,
    hosts,
    databaseUrl: `postgres://postgres:${PG_PASSWORD}@${HUB_ADDRESS}:${PG_PORT}/postgres`,
    exec,
    cut: (h) => ip(['-n', h.ns, 'link', 'set', 'eth0', 'down']),
    restore: (h) => {
      ip(['-n', h.ns, 'link', 'set', 'eth0', 'up']);
      // The connected route comes back with the link.
    },
    partition: (h) => execFileSync('ip', ['netns', 'exec', h.ns, 'iptables', '-A', ...dropRule()], { timeout: 10_000 }),
    heal: (h) => execFileSync('ip', ['netns', 'exec', h.ns, 'iptables', '-D', ...dropRule()], { timeout: 10_000 }),
    destroy,
  };
}

/* ---------- JSON-RPC calls from inside a host ---------- */

export interface HostCall {
  ok: boolean;
  result?: Record<string, unknown>;
  /** The symbolic error code (FENCED, NOT_LEADER, ...) when the sidecar answered with a domain error. */
  errorCode?: string;
  /** Exit code of the client: 0 ok, 3 the sidecar returned an error, 4 cannot connect; null when killed at the timeout. */
  exit: number | null;
  timedOut: boolean;
  stderr: string;
}

/**
 * The client that runs inside a host namespace: `sidecarctl call` when it is
 * built, else a minimal stand-in with the same contract (result JSON on stdout,
 * exit 0 / 3 with the symbolic code on stderr / 4 cannot connect).
 */
export function hostClientArgv(dir: string): (method: string, params: Record<string, unknown>) => string[] {
  if (existsSync(SIDECARCTL_BIN)) return (method, params) => [process.execPath, SIDECARCTL_BIN, 'call', method, '--params', JSON.stringify(params)];
  const script = join(dir, 'rpc-call.js');
  if (!existsSync(script)) writeFileSync(script, standInClient(join(REPO_ROOT, 'node_modules', 'ws')), { mode: 0o644 });
  return (method, params) => [process.execPath, script, method, JSON.stringify(params)];
}

function standInClient(wsModule: string): string {
  return `'use strict';
const WebSocket = require(${JSON.stringify(wsModule)});
const [method, params] = process.argv.slice(2);
const ws = new WebSocket(process.env.SIDECAR_URL, { headers: { Authorization: 'Bearer ' + process.env.SIDECAR_TOKEN } });
ws.on('unexpected-response', (_q, res) => { process.stderr.write('cannot connect: HTTP ' + res.statusCode + '\\n'); process.exit(4); });
ws.on('error', (e) => { process.stderr.write('cannot connect: ' + e.message + '\\n'); process.exit(4); });
ws.on('open', () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: JSON.parse(params) })));
ws.on('message', (d) => {
  const m = JSON.parse(d.toString());
  if (m.id !== 1) { if (m.method === 'progress') process.stderr.write(JSON.stringify(m.params) + '\\n'); return; }
  if (m.error) { process.stderr.write(((m.error.data && m.error.data.code) || m.error.code) + ': ' + m.error.message + '\\n'); process.exit(3); }
  process.stdout.write(JSON.stringify(m.result) + '\\n'); process.exit(0);
});
`;
}

const CODE_PATTERN = new RegExp(`\\b(${ERROR_CODES.join('|')})\\b`);

export async function callFromHost(
  lab: NetnsLab,
  host: NetnsHost,
  client: (method: string, params: Record<string, unknown>) => string[],
  target: { url: string; token: string },
  method: string,
  params: Record<string, unknown>,
  timeoutMs = 15_000,
): Promise<HostCall> {
  const r = await lab.exec(host.ns, client(method, params), { env: { SIDECAR_URL: target.url, SIDECAR_TOKEN: target.token }, timeoutMs });
  if (r.code === 0) {
    return { ok: true, result: parseResult(r.stdout), exit: 0, timedOut: false, stderr: r.stderr };
  }
  const m = CODE_PATTERN.exec(r.stderr);
  return { ok: false, ...(m ? { errorCode: m[1] } : {}), exit: r.code, timedOut: r.timedOut, stderr: r.stderr };
}

/** sidecarctl may pretty-print; the stand-in prints one line. */
function parseResult(stdout: string): Record<string, unknown> {
  const text = stdout.trim();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return JSON.parse(text.split('\n').pop() ?? 'null') as Record<string, unknown>;
  }
}

/* ---------- assertions on host calls (the failure shows the whole call) ---------- */

export function describeCall(c: HostCall): string {
  return JSON.stringify({ ok: c.ok, errorCode: c.errorCode, exit: c.exit, timedOut: c.timedOut, result: c.result, stderr: c.stderr.slice(-600) });
}

/** The result of a call that must have succeeded. */
export function expectOk(c: HostCall): Record<string, unknown> {
  if (!c.ok) throw new Error(`expected success, got ${describeCall(c)}`);
  return c.result!;
}

/** A call that must have failed with the symbolic `code`. */
export function expectCode(c: HostCall, code: string): void {
  if (c.errorCode !== code) throw new Error(`expected ${code}, got ${describeCall(c)}`);
}

/**
 * `on(host, method, params)`: a call made inside that host's namespace to that
 * host's own sidecar with its `ops` token (what a pipeline on that host does).
 */
export function hostCaller(
  lab: NetnsLab,
  sidecars: ReadonlyMap<string, { rpcUrl: string; secrets: Record<string, string> }>,
  client: (method: string, params: Record<string, unknown>) => string[],
): (name: string, method: string, params: Record<string, unknown>, timeoutMs?: number) => Promise<HostCall> {
  return (name, method, params, timeoutMs = 15_000) => {
    const h = lab.hosts.find((x) => x.name === name);
    const sc = sidecars.get(name);
    if (!h || !sc) throw new Error(`no host ${name} with a sidecar in lab ${lab.id}`);
    return callFromHost(lab, h, client, { url: sc.rpcUrl, token: sc.secrets['ops']! }, method, params, timeoutMs);
  };
}

/* ---------- one sidecar per lab host ---------- */

export interface LabSidecars {
  /** host name → its sidecar process (instance id `<lab id>-<host name>`, token `ops` for every team). */
  sidecars: Map<string, SidecarProcess>;
  on: ReturnType<typeof hostCaller>;
  /** Stops every sidecar (SIGTERM, SIGKILL after 5 s); call before lab.destroy(). */
  stop(): Promise<void>;
}

/** Starts a jenkins-sidecar inside every host's namespace against the lab's PostgreSQL. */
export async function startLabSidecars(lab: NetnsLab, opts: { env?: (host: NetnsHost) => Record<string, string>; teamsYaml?: string } = {}): Promise<LabSidecars> {
  const started = await Promise.allSettled(
    lab.hosts.map((h) =>
      startSidecarProcess({
        databaseUrl: lab.databaseUrl,
        instanceId: `${lab.id}-${h.name}`,
        tokens: [{ id: 'ops', teams: ['*'] }],
        ...(opts.teamsYaml ? { teamsYaml: opts.teamsYaml } : {}),
        wrap: ['ip', 'netns', 'exec', h.ns],
        env: { SIDECAR_SHUTDOWN_GRACE_SEC: '2', ...(opts.env?.(h) ?? {}) },
        startTimeoutMs: 40_000,
      }),
    ),
  );
  const sidecars = new Map<string, SidecarProcess>();
  started.forEach((r, i) => r.status === 'fulfilled' && sidecars.set(lab.hosts[i]!.name, r.value));
  const stop = async (): Promise<void> => {
    await Promise.all([...sidecars.values()].map((s) => s.stop(5_000).catch(() => undefined)));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { sidecars, on: hostCaller(lab, sidecars, hostClientArgv([...sidecars.values()][0]!.dir)), stop };
}

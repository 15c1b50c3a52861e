import { isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { parseDatabaseUrl } from './database-url';
import { z } from 'zod';
import type { NetworkingConfig } from '../docker/container-spec';
import type { ControllerFilesConfig } from '../docker/controller-mounts';
import { dataDirLayout } from './data-dir';

/**
 * The sidecar's configuration: schema → normalise → rules, as a pure function
 * of (environment, optional --config YAML, host facts) returning
 * `{config, warnings, errors}` with one line per problem. Environment variables
 * win over the file. Only load-config.ts touches process.env and the disk.
 */
export type HaproxyEndpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export interface SidecarConfig {
  listen: { host: string; port: number };
  /** null → embedded PostgreSQL in `<dataDir>/postgres`. */
  databaseUrl: string | null;
  dataDir: string;
  haproxySocket: HaproxyEndpoint | null;
  /** HAProxy's HTTP frontend on this host, where switches run their synthetic Jenkins transaction; null: none. */
  haproxyFrontend: { host: string; port: number } | null;
  /** null → dockerode's default (DOCKER_HOST unset: /var/run/docker.sock). */
  dockerHost: string | null;
  instanceId: string;
  /** Host names the HTTP listener answers for besides IP literals, localhost, the hostname and the instance id (DNS rebinding). */
  allowedHosts: string[];
  teamsFile: string | null;
  tokensFile: string | null;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  limits: { maxPayloadBytes: number; maxConnectionsPerToken: number; maxInFlightPerToken: number };
  /** Participant heartbeat period; leases and liveness are multiples of it. */
  heartbeatSec: number;
  /** A participant is live while its last heartbeat is younger than this. */
  liveWithinSec: number;
  /** SIGTERM: how long in-flight operations get to reach a safe point. */
  shutdownGraceSec: number;
  /** A store statement unanswered this long means the database is unreachable (partition): the connection is reset. */
  databaseAnswerTimeoutSec: number;
  /** How controller ports reach the host (environment.deploy). */
  controllerNetworking: NetworkingConfig;
  /** Host side of the files the rendered jenkins.yaml reads (secrets, file:// library). */
  controllerFiles: ControllerFilesConfig;
}

export interface HostFacts {
  hostname: string;
  homeDir: string;
  isRoot: boolean;
  cwd: string;
}

export interface ConfigResult {
  config: SidecarConfig | null;
  warnings: string[];
  errors: string[];
}

const intIn = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const fileSchema = z
  .object({
    listen: z.union([z.string(), z.number()]).optional(),
    database_url: z.string().optional(),
    haproxy_frontend: z.string().optional(),
    data_dir: z.string().optional(),
    haproxy_socket: z.string().optional(),
    docker_host: z.string().optional(),
    instance_id: z.string().optional(),
    allowed_hosts: z.string().optional(),
    teams_file: z.string().optional(),
    tokens_file: z.string().optional(),
    log_level: z.enum(['error', 'warn', 'info', 'debug']).optional(),
    limits: z
      .object({
        max_payload_bytes: intIn(1024, 64 * 1024 * 1024).optional(),
        max_connections_per_token: intIn(1, 10_000).optional(),
        max_in_flight_per_token: intIn(1, 10_000).optional(),
      })
      .strict()
      .optional(),
    heartbeat_sec: intIn(1, 300).optional(),
    live_within_sec: intIn(2, 3_600).optional(),
    shutdown_grace_sec: intIn(0, 3_600).optional(),
    database_answer_timeout_sec: intIn(1, 120).optional(),
    controller: z
      .object({
        networking: z.enum(['host', 'published']).optional(),
        bind_address: z.string().optional(),
        web_port: intIn(1, 65_535).optional(),
        agent_port: intIn(1, 65_535).optional(),
        secrets_root: z.string().optional(),
        library_dir: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Host paths that reach Docker bind mounts: plain absolute paths only (no `..`, no `:` or spaces). */
export const HOST_PATH_PATTERN = /^\/[A-Za-z0-9_./-]{0,254}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,100}$/;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

export function parseListen(text: string): { host: string; port: number } | string {
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(text.trim());
  if (!m) return `expected host:port (e.g. 127.0.0.1:8765), got '${text}'`;
  const port = Number(m[2]);
  if (port > 65535) return `port ${port} is out of range`;
  const host = (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, '');
  return { host, port };
}

export function parseHaproxyEndpoint(text: string, cwd: string): HaproxyEndpoint | string {
  const t = text.trim();
  if (t.startsWith('/') || t.startsWith('./') || t.startsWith('unix:')) {
    const path = t.replace(/^unix:/, '');
    return { kind: 'unix', path: resolve(cwd, path) };
  }
  const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(t);
  if (!m || Number(m[2]) > 65535 || Number(m[2]) === 0) return `expected a unix socket path or host:port, got '${text}'`;
  return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** Pure. `file` is the --config YAML when one was given. */
export function resolveConfig(env: Record<string, string | undefined>, host: HostFacts, file?: { path: string; text: string }): ConfigResult {
  const read = readConfigFile(file);
  if ('errors' in read) return { config: null, warnings: [], errors: read.errors };
  const f = read.values;
  const r = configReader(env, host, file);
  const where = resolveEndpoints(r, f, host);
  const who = resolveIdentity(r, f, host);
  const timing = resolveTimings(r, f);
  const controllerNetworking = resolveNetworking(r.pick, r.pickInt, f.controller, r.errors);
  const controllerFiles = resolveControllerFiles(r.pick, f.controller, host, r.fileRel, r.errors);
  if (!who.tokensFile) {
    r.warnings.push(`SIDECAR_TOKENS_FILE is not set: an ops token is generated into ${dataDirLayout(who.dataDir).opsToken} (mode 600) for a local try-out`);
    if (!LOOPBACK.test(where.listen.host)) r.warnings.push(`listening on ${where.listen.host} without a tokens file: only the generated ops token is accepted; set SIDECAR_TOKENS_FILE for team tokens`);
  }
  if (r.errors.length) return { config: null, warnings: r.warnings, errors: r.errors };
  return { config: { ...where, ...who, ...timing, controllerNetworking, controllerFiles }, warnings: r.warnings, errors: r.errors };
}

type FileValues = z.output<typeof fileSchema>;

/** The --config YAML, checked against the schema; every problem names its path. */
function readConfigFile(file: { path: string; text: string } | undefined): { values: FileValues } | { errors: string[] } {
  if (!file) return { values: {} };
  const doc = parseDocument(file.text, { prettyErrors: false });
  if (doc.errors.length) return { errors: doc.errors.map((e) => `${file.path}: YAML: ${e.message.split('\n')[0]}`) };
  const parsed = fileSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) return { errors: parsed.error.issues.map((i) => `${file.path}: ${i.path.map(String).join('.') || 'top level'}: ${i.message}`) };
  return { values: parsed.data };
}

/** Reads one setting: the environment wins over the file; problems are collected, not thrown. */
interface ConfigReader {
  pick: PickSetting;
  pickInt: PickInt;
  /** A path from the config, relative to the working directory. */
  fileRel: (p: string) => string;
  errors: string[];
  warnings: string[];
}

function configReader(env: Record<string, string | undefined>, host: HostFacts, file: { path: string } | undefined): ConfigReader {
  const errors: string[] = [];
  const pick: PickSetting = (envName, fileValue) => {
    const e = env[envName];
    if (e !== undefined && e !== '') return { value: e, source: envName };
    if (fileValue !== undefined) return { value: String(fileValue), source: file ? `${file.path}` : 'config file' };
    return { value: undefined, source: envName };
  };
  const pickInt: PickInt = (envName, fileValue, dflt, min, max) => {
    const { value, source } = pick(envName, fileValue);
    if (value === undefined) return dflt;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      errors.push(`${source}: expected an integer from ${min} to ${max}, got '${value}'`);
      return dflt;
    }
    return n;
  };
  return { pick, pickInt, fileRel: (p) => (isAbsolute(p) ? p : resolve(host.cwd, p)), errors, warnings: [] };
}

type Endpoints = Pick<SidecarConfig, 'listen' | 'databaseUrl' | 'haproxySocket' | 'haproxyFrontend' | 'dockerHost'>;

/** Where the sidecar listens and what it talks to: PostgreSQL, HAProxy (Runtime API and frontend), Docker. */
function resolveEndpoints(r: ConfigReader, f: FileValues, host: HostFacts): Endpoints {
  const { pick, errors, warnings } = r;
  const listenIn = pick('SIDECAR_LISTEN', f.listen);
  const listenParsed = parseListen(listenIn.value ?? '127.0.0.1:8765');
  let listen = { host: '127.0.0.1', port: 8765 };
  if (typeof listenParsed === 'string') errors.push(`${listenIn.source}: ${listenParsed}`);
  else listen = listenParsed;

  const databaseUrl = resolveDatabaseUrl(r, f);

  const haIn = pick('SIDECAR_HAPROXY_SOCKET', f.haproxy_socket);
  let haproxySocket: HaproxyEndpoint | null = null;
  if (haIn.value !== undefined) {
    const h = parseHaproxyEndpoint(haIn.value, host.cwd);
    if (typeof h === 'string') errors.push(`${haIn.source}: ${h}`);
    else haproxySocket = h;
  } else {
    warnings.push('SIDECAR_HAPROXY_SOCKET is not set: traffic methods cannot reach HAProxy (/readyz reports it as not configured)');
  }

  const feIn = pick('SIDECAR_HAPROXY_FRONTEND', f.haproxy_frontend);
  let haproxyFrontend: { host: string; port: number } | null = null;
  if (feIn.value !== undefined) {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3}|localhost):(\d{1,5})$/.exec(feIn.value);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) errors.push(`${feIn.source}: expected host:port of HAProxy's HTTP frontend (e.g. 127.0.0.1:80), got '${feIn.value}'`);
    else haproxyFrontend = { host: m[1], port: Number(m[2]) };
  } else if (haIn.value !== undefined) {
    warnings.push('SIDECAR_HAPROXY_FRONTEND is not set: switches run no synthetic Jenkins transaction on the target (real traffic alone decides)');
  }

  const dockerIn = pick('DOCKER_HOST', f.docker_host);
  const dockerHost = dockerIn.value ?? null;
  if (dockerHost !== null && !/^(unix|tcp|http|https|ssh|npipe):\/\/\S+$/.test(dockerHost)) {
    errors.push(`${dockerIn.source}: expected unix:///path/docker.sock or tcp://host:port, got '${dockerHost}'`);
  }
  return { listen, databaseUrl, haproxySocket, haproxyFrontend, dockerHost };
}

/** null: the embedded PostgreSQL. Several hosts without target_session_attrs may land on a standby. */
function resolveDatabaseUrl({ pick, errors, warnings }: ConfigReader, f: FileValues): string | null {
  const dbIn = pick('SIDECAR_DATABASE_URL', f.database_url);
  if (dbIn.value === undefined) return null;
  try {
    const parsed = parseDatabaseUrl(dbIn.value);
    if (parsed.hosts.length > 1 && parsed.targetSessionAttrs === 'any') {
      warnings.push(
        `${dbIn.source}: ${parsed.hosts.length} hosts without target_session_attrs: the sidecar takes the first that answers, as libpq does, even a standby; add ?target_session_attrs=read-write`,
      );
    }
    return dbIn.value;
  } catch (err) {
    errors.push(`${dbIn.source}: ${(err as Error).message}`);
    return null;
  }
}

type Identity = Pick<SidecarConfig, 'dataDir' | 'instanceId' | 'allowedHosts' | 'teamsFile' | 'tokensFile' | 'logLevel'>;

/** Who this sidecar is (instance id, host names), where it keeps its data, whom it serves (teams and tokens files), how much it logs. */
function resolveIdentity({ pick, fileRel, errors, warnings }: ConfigReader, f: FileValues, host: HostFacts): Identity {
  const dataIn = pick('SIDECAR_DATA_DIR', f.data_dir);
  const dataDir = dataIn.value ? fileRel(dataIn.value) : host.isRoot ? '/var/lib/jenkins-sidecar' : join(host.homeDir, '.jenkins-sidecar');

  const idIn = pick('SIDECAR_INSTANCE_ID', f.instance_id);
  const instanceId = idIn.value ?? host.hostname;
  if (!INSTANCE_ID_PATTERN.test(instanceId)) {
    errors.push(`${idIn.value ? idIn.source : 'hostname'}: instance id '${instanceId}' must be 1-100 characters of [A-Za-z0-9_.:-]; set SIDECAR_INSTANCE_ID`);
  }

  const hostsIn = pick('SIDECAR_ALLOWED_HOSTS', f.allowed_hosts);
  const extraHosts = (hostsIn.value ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  for (const h of extraHosts) if (!/^[a-z0-9.-]{1,253}$/.test(h)) errors.push(`${hostsIn.source}: '${h}' is not a host name (comma-separated names such as sidecar.example.com)`);
  const allowedHosts = [host.hostname.toLowerCase(), ...extraHosts];

  const teamsIn = pick('SIDECAR_TEAMS_FILE', f.teams_file);
  const teamsFile = teamsIn.value ? fileRel(teamsIn.value) : null;
  if (!teamsFile) warnings.push('SIDECAR_TEAMS_FILE is not set: any valid team name is accepted and starts on blue');
  const tokensIn = pick('SIDECAR_TOKENS_FILE', f.tokens_file);
  const tokensFile = tokensIn.value ? fileRel(tokensIn.value) : null;

  const levelIn = pick('SIDECAR_LOG_LEVEL', f.log_level);
  const levels = ['error', 'warn', 'info', 'debug'] as const;
  let logLevel: SidecarConfig['logLevel'] = 'info';
  if (levelIn.value !== undefined) {
    if ((levels as readonly string[]).includes(levelIn.value)) logLevel = levelIn.value as SidecarConfig['logLevel'];
    else errors.push(`${levelIn.source}: expected one of ${levels.join(', ')}, got '${levelIn.value}'`);
  }
  return { dataDir, instanceId, allowedHosts, teamsFile, tokensFile, logLevel };
}

type Timings = Pick<SidecarConfig, 'heartbeatSec' | 'liveWithinSec' | 'databaseAnswerTimeoutSec' | 'limits' | 'shutdownGraceSec'>;

/** Periods and bounds: heartbeat and liveness, the database answer deadline, per-token limits, the shutdown grace. */
function resolveTimings({ pickInt, errors }: ConfigReader, f: FileValues): Timings {
  const heartbeatSec = pickInt('SIDECAR_HEARTBEAT_SEC', f.heartbeat_sec, 5, 1, 300);
  const liveWithinSec = pickInt('SIDECAR_LIVE_WITHIN_SEC', f.live_within_sec, heartbeatSec * 3, 2, 3_600);
  if (liveWithinSec <= heartbeatSec) errors.push(`SIDECAR_LIVE_WITHIN_SEC (${liveWithinSec}) must be longer than the heartbeat period (${heartbeatSec} s)`);
  const databaseAnswerTimeoutSec = pickInt('SIDECAR_DATABASE_ANSWER_TIMEOUT_SEC', f.database_answer_timeout_sec, 10, 1, 120);
  const limits = {
    maxPayloadBytes: pickInt('SIDECAR_MAX_PAYLOAD_BYTES', f.limits?.max_payload_bytes, 1024 * 1024, 1024, 64 * 1024 * 1024),
    maxConnectionsPerToken: pickInt('SIDECAR_MAX_CONNECTIONS_PER_TOKEN', f.limits?.max_connections_per_token, 64, 1, 10_000),
    maxInFlightPerToken: pickInt('SIDECAR_MAX_IN_FLIGHT_PER_TOKEN', f.limits?.max_in_flight_per_token, 32, 1, 10_000),
  };
  const shutdownGraceSec = pickInt('SIDECAR_SHUTDOWN_GRACE_SEC', f.shutdown_grace_sec, 20, 0, 3_600);
  return { heartbeatSec, liveWithinSec, databaseAnswerTimeoutSec, limits, shutdownGraceSec };
}

type PickSetting = (envName: string, fileValue: string | number | undefined) => { value: string | undefined; source: string };
type PickInt = (envName: string, fileValue: number | undefined, dflt: number, min: number, max: number) => number;
type ControllerSection = FileValues['controller'];

/** `host` (default) or `published` on a loopback/IPv4 bind address with the ports the image listens on. */
function resolveNetworking(pick: PickSetting, pickInt: PickInt, c: ControllerSection, errors: string[]): NetworkingConfig {
  const modeIn = pick('SIDECAR_CONTROLLER_NETWORKING', c?.networking);
  const mode = modeIn.value ?? 'host';
  if (mode !== 'host' && mode !== 'published') {
    errors.push(`${modeIn.source}: expected host or published, got '${mode}'`);
    return { mode: 'host' };
  }
  const bindIn = pick('SIDECAR_CONTROLLER_BIND_ADDRESS', c?.bind_address);
  const bindAddress = bindIn.value ?? '127.0.0.1';
  // Reaches Docker's PortBindings: an IPv4 literal only (0.0.0.0 publishes on every interface).
  if (!IPV4.test(bindAddress)) errors.push(`${bindIn.source}: expected an IPv4 address such as 127.0.0.1, got '${bindAddress}'`);
  const containerWebPort = pickInt('SIDECAR_CONTROLLER_WEB_PORT', c?.web_port, 8080, 1, 65_535);
  const containerAgentPort = pickInt('SIDECAR_CONTROLLER_AGENT_PORT', c?.agent_port, 50_000, 1, 65_535);
  if (mode === 'host') return { mode: 'host' };
  if (containerWebPort === containerAgentPort) errors.push(`SIDECAR_CONTROLLER_WEB_PORT and SIDECAR_CONTROLLER_AGENT_PORT must differ (both ${containerWebPort})`);
  return { mode: 'published', bindAddress, containerWebPort, containerAgentPort };
}

/**
 * Where each team's secret files (`<secretsRoot>/<team>/secrets/<file>`) and the
 * file:// library repository live on the Docker host. Root default: /etc/jenkins-selfmanage/teams;
 * without root, under the home directory.
 */
function resolveControllerFiles(pick: PickSetting, c: ControllerSection, host: HostFacts, fileRel: (p: string) => string, errors: string[]): ControllerFilesConfig {
  const hostPath = (envName: string, fileValue: string | undefined, dflt: string | null): string | null => {
    const { value, source } = pick(envName, fileValue);
    if (value === undefined) return dflt;
    const p = fileRel(value).replace(/\/+$/, '') || '/';
    if (!HOST_PATH_PATTERN.test(p) || p.split('/').includes('..')) {
      errors.push(`${source}: expected an absolute path of [A-Za-z0-9_./-] without '..', got '${value}'`);
      return dflt;
    }
    return p;
  };
  const defaultRoot = host.isRoot ? '/etc/jenkins-selfmanage/teams' : join(host.homeDir, '.jenkins-selfmanage', 'teams');
  return {
    secretsRoot: hostPath('SIDECAR_CONTROLLER_SECRETS_ROOT', c?.secrets_root, defaultRoot) ?? defaultRoot,
    libraryDir: hostPath('SIDECAR_CONTROLLER_LIBRARY_DIR', c?.library_dir, null),
  };
}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { agentBackendName, affinityCookieName, peopleTableName, signedInCookieName, triggersBackendName } from '../../../catalog/haproxy-names';
import type { HaproxySettings } from '../../../catalog/haproxy-settings';
import { ENVIRONMENTS, RUNTIME_NAME_PATTERN, TEAM_NAME_PATTERN, type EnvironmentName, type Team } from '../../../catalog/teams-file';

/**
 * HAProxy configuration for every team of the teams file: one backend
 * `jenkins_backend_<team>` (or the team's haproxy_backend) with `<team>-blue` at
 * the base port and `<team>-green` at base+100, both active, weights 100/0 for
 * the active side. The sidecar moves weights through the Runtime API; this file
 * only fixes the starting point, so rendering is deterministic. A cookie pins each
 * person to the controller holding their session, so weights place new sessions.
 */
export interface HaproxyRenderOptions {
  /** Address the frontends bind (default 0.0.0.0). */
  bindAddress?: string;
  /** HTTP frontend port (default 80). */
  httpPort?: number;
  /**
   * TLS termination: an HTTPS bind on `httpsPort` with the PEM (certificate + key) at
   * `certificate`; `redirectHttp` sends browsers from HTTP to HTTPS (default true).
   */
  tls?: { httpsPort: number; certificate: string; redirectHttp?: boolean };
  /** Runtime API: a unix socket path or `host:port` (default /run/haproxy/admin.sock). */
  statsSocket?: string;
  /** Where `show servers state` is saved before a reload (default /var/lib/haproxy/server-state). */
  serverStateFile?: string;
  /** Where the Jenkins containers listen (host networking: default 127.0.0.1). */
  backendAddress?: string;
  /** Host names `<team>.<hostDomain>` route to the team (besides `<team>` and the path prefix `/<team>/`). */
  hostDomain?: string;
  /** Health check path (default /login, which a Jenkins answers without auth). */
  healthPath?: string;
  /** Health check interval (default 2000 ms). */
  checkIntervalMs?: number;
  /** HAProxy's agent (TCP) listener for a team is its agent_port + this offset; null renders none (default 1000). */
  agentPortOffset?: number | null;
  /** Backend used when neither host nor path matches (default: the only team, when there is one). */
  defaultTeam?: string;
  /** Starting weights per team, overriding 100/0 for the active side (used by a config-rewrite switch). */
  weights?: Record<string, { blue: number; green: number }>;
  maxconn?: number;
}

const PATH_PATTERN = /^\/[A-Za-z0-9_./-]{1,200}$/;
const HOST_PORT_PATTERN = /^(\d{1,3}\.){3}\d{1,3}:\d{1,5}$/;
const IPV4_PATTERN = /^(\d{1,3}\.){3}\d{1,3}$/;
const DOMAIN_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const HTTP_PATH_PATTERN = /^\/[A-Za-z0-9_./-]{0,200}$/;

export class HaproxyRenderError extends Error {
  override readonly name = 'HaproxyRenderError';
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new HaproxyRenderError(`haproxy config: ${what}`);
}

const isPort = (p: unknown): p is number => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;
const isWeight = (w: unknown): w is number => Number.isInteger(w) && (w as number) >= 0 && (w as number) <= 256;

function templatePath(): string {
  // Source tree (library-gen/src/render) and build tree (build/library-gen/src/render) both reach it.
  const candidates = [join(__dirname, '../../templates/haproxy.cfg.hbs'), join(__dirname, '../../../../library-gen/templates/haproxy.cfg.hbs')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new HaproxyRenderError(`template haproxy.cfg.hbs not found (looked in ${candidates.join(', ')})`);
  return found;
}

let compiled: HandlebarsTemplateDelegate | undefined;

/** Pure apart from reading the template once. Every value is checked before it reaches the file. */
export function renderHaproxyConfig(teams: Team[], opts: HaproxyRenderOptions = {}): string {
  const g = checkedGlobals(opts);
  const sorted = [...teams].sort((a, b) => a.team_name.localeCompare(b.team_name));
  const views = sorted.map((team) => teamView(team, opts, g.backendAddress, g.agentPortOffset));
  const defaultView = defaultTeamOf(views, opts.defaultTeam);

  compiled ??= Handlebars.compile(readFileSync(templatePath(), 'utf8'), { noEscape: true, strict: true });
  return compiled({
    statsSocketBind: g.statsSocketIsUnix ? g.statsSocket : `ipv4@${g.statsSocket}`,
    statsSocketIsUnix: g.statsSocketIsUnix,
    serverStateFile: g.serverStateFile,
    maxconn: g.maxconn,
    bindAddress: g.bindAddress,
    httpPort: g.httpPort,
    healthPath: g.healthPath,
    checkIntervalMs: g.checkIntervalMs,
    defaultBackend: defaultView?.backend,
    defaultTriggersBackend: defaultView?.triggersBackend,
    tls: g.tls ?? null,
    tlsRedirect: g.tls?.redirect ?? false,
    teams: views,
  });
}

/** The options that hold for every team, defaulted and checked. */
function checkedGlobals(opts: HaproxyRenderOptions) {
  const bindAddress = opts.bindAddress ?? '0.0.0.0';
  const httpPort = opts.httpPort ?? 80;
  const statsSocket = opts.statsSocket ?? '/run/haproxy/admin.sock';
  const serverStateFile = opts.serverStateFile ?? '/var/lib/haproxy/server-state';
  const backendAddress = opts.backendAddress ?? '127.0.0.1';
  const healthPath = opts.healthPath ?? '/login';
  const checkIntervalMs = opts.checkIntervalMs ?? 2000;
  const agentPortOffset = opts.agentPortOffset === undefined ? 1000 : opts.agentPortOffset;
  const maxconn = opts.maxconn ?? 4096;

  check(IPV4_PATTERN.test(bindAddress), `bindAddress must be an IPv4 address, got ${JSON.stringify(bindAddress)}`);
  check(IPV4_PATTERN.test(backendAddress), `backendAddress must be an IPv4 address, got ${JSON.stringify(backendAddress)}`);
  check(isPort(httpPort), `httpPort must be a port number, got ${httpPort}`);
  const statsSocketIsUnix = statsSocket.startsWith('/');
  check(
    statsSocketIsUnix ? PATH_PATTERN.test(statsSocket) : HOST_PORT_PATTERN.test(statsSocket),
    `statsSocket must be an absolute path or host:port, got ${JSON.stringify(statsSocket)}`,
  );
  check(PATH_PATTERN.test(serverStateFile), `serverStateFile must be an absolute path, got ${JSON.stringify(serverStateFile)}`);
  check(HTTP_PATH_PATTERN.test(healthPath), `healthPath must be a URL path, got ${JSON.stringify(healthPath)}`);
  check(Number.isInteger(checkIntervalMs) && checkIntervalMs >= 100 && checkIntervalMs <= 60000, 'checkIntervalMs must be 100..60000');
  check(Number.isInteger(maxconn) && maxconn > 0 && maxconn <= 1_000_000, 'maxconn must be a positive integer');
  if (opts.hostDomain !== undefined) check(DOMAIN_PATTERN.test(opts.hostDomain), `hostDomain is not a DNS name: ${JSON.stringify(opts.hostDomain)}`);
  if (agentPortOffset !== null) check(Number.isInteger(agentPortOffset), 'agentPortOffset must be an integer or null');
  const tls = tlsView(opts.tls, httpPort);
  return { bindAddress, httpPort, statsSocket, statsSocketIsUnix, serverStateFile, backendAddress, healthPath, checkIntervalMs, agentPortOffset, maxconn, tls };
}

/** One team's frontend rules and backends, its names and ports checked. */
function teamView(team: Team, opts: HaproxyRenderOptions, backendAddress: string, agentPortOffset: number | null) {
  check(TEAM_NAME_PATTERN.test(team.team_name), `team name ${JSON.stringify(team.team_name)} is not allowed`);
  check(RUNTIME_NAME_PATTERN.test(team.haproxy_backend), `team ${team.team_name}: haproxy_backend ${JSON.stringify(team.haproxy_backend)} is not allowed`);
  const weights = opts.weights?.[team.team_name] ?? {
    blue: team.active_environment === 'blue' ? 100 : 0,
    green: team.active_environment === 'green' ? 100 : 0,
  };
  const servers = ENVIRONMENTS.map((env: EnvironmentName) => {
    const e = team.environments[env];
    check(isPort(e.web_port) && isPort(e.agent_port), `team ${team.team_name}: ${env} ports out of range`);
    check(RUNTIME_NAME_PATTERN.test(e.server), `team ${team.team_name}: server name ${JSON.stringify(e.server)} is not allowed`);
    check(isWeight(weights[env]), `team ${team.team_name}: weight for ${env} must be 0..256`);
    return { env, server: e.server, address: backendAddress, webPort: e.web_port, agentPort: e.agent_port, weight: weights[env], triggerWeight: env === team.active_environment ? 1 : 0 };
  });
  const agentListenPort = agentPortOffset === null ? undefined : team.agent_port + agentPortOffset;
  if (agentListenPort !== undefined) check(isPort(agentListenPort), `team ${team.team_name}: agent listen port ${agentListenPort} out of range`);
  const hostNames = [team.team_name, ...(opts.hostDomain ? [`${team.team_name}.${opts.hostDomain}`] : [])].join(' ');
  return {
    name: team.team_name,
    backend: team.haproxy_backend,
    agentBackend: agentBackendName(team.team_name),
    triggersBackend: triggersBackendName(team.team_name),
    cookieName: affinityCookieName(team.team_name),
    authCookie: signedInCookieName(team.team_name),
    peopleTable: peopleTableName(team.team_name),
    hostNames,
    servers,
    agentListenPort,
  };
}

/** The team for requests no team's Host matches: the named team, or the only team. */
function defaultTeamOf<V extends { name: string; backend: string; triggersBackend: string }>(views: readonly V[], defaultTeam: string | undefined): V | undefined {
  if (defaultTeam !== undefined) {
    const t = views.find((v) => v.name === defaultTeam);
    check(t !== undefined, `defaultTeam ${JSON.stringify(defaultTeam)} is not in the teams file`);
    return t;
  }
  return views.length === 1 ? views[0] : undefined;
}

function tlsView(tls: HaproxyRenderOptions['tls'], httpPort: number): { httpsPort: number; certificate: string; redirect: boolean; redirectTarget: string } | undefined {
  if (!tls) return undefined;
  check(isPort(tls.httpsPort) && tls.httpsPort !== httpPort, `tls.httpsPort must be a port number other than httpPort, got ${tls.httpsPort}`);
  check(PATH_PATTERN.test(tls.certificate), `tls.certificate must be an absolute path to a PEM file, got ${JSON.stringify(tls.certificate)}`);
  // `redirect scheme` keeps the Host header's port: only right when HTTPS is on 443.
  const redirectTarget = tls.httpsPort === 443 ? 'scheme https' : `location https://%[req.hdr(host),field(1,:)]:${tls.httpsPort}%[capture.req.uri]`;
  return { httpsPort: tls.httpsPort, certificate: tls.certificate, redirect: tls.redirectHttp !== false, redirectTarget };
}

/** The teams file's `haproxy:` section as render options (the renderer checks each value again). */
export function haproxyOptionsFromSettings(s: HaproxySettings): HaproxyRenderOptions {
  return {
    bindAddress: s.bind_address,
    httpPort: s.http_port,
    ...(s.tls ? { tls: { httpsPort: s.tls.https_port, certificate: s.tls.certificate, redirectHttp: s.tls.redirect_http } } : {}),
    statsSocket: s.stats_socket,
    serverStateFile: s.server_state_file,
    agentPortOffset: s.agent_port_offset,
    ...(s.host_domain ? { hostDomain: s.host_domain } : {}),
    ...(s.default_team ? { defaultTeam: s.default_team } : {}),
  };
}

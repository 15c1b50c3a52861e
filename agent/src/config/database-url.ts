/**
 * SIDECAR_DATABASE_URL in libpq's own URI form, several hosts included, so an
 * operator reuses the string their other PostgreSQL clients already have:
 *
 *   postgresql://user:pw@h1:5432,h2:5433/db?target_session_attrs=read-write
 *
 * node-postgres takes one host, so this parses the host list and hands pg one
 * single-host URL per candidate (everything else — user, password, sslmode … —
 * passes through unchanged for pg's own parser).
 *
 * libpq's rules followed here (libpq docs, "Connection Strings" and
 * "Specifying Multiple Hosts"; src/interfaces/libpq/fe-connect.c conninfo_uri_parse_options):
 * - the netloc is `host[:port][,host[:port]...]`; `[v6addr]` brackets; a host is percent-decoded;
 * - `host=` and `port=` query parameters give the same lists (a parameter wins over the netloc);
 *   one port applies to every host, otherwise there must be one port per host;
 * - a host without a port uses 5432; hosts are tried in the order given;
 * - target_session_attrs: any (default) | read-write | read-only | primary | standby | prefer-standby.
 *   read-write = the session's transactions are read-write by default; primary = the server is not
 *   in hot standby (they differ only when default_transaction_read_only is on).
 * The sidecar writes on every operation, so the read-only kinds are refused here rather than
 * connecting to a standby on purpose.
 */
export type TargetSessionAttrs = 'any' | 'read-write' | 'primary';

export interface DatabaseHost {
  host: string;
  port: number;
}

export interface DatabaseUrl {
  hosts: DatabaseHost[];
  targetSessionAttrs: TargetSessionAttrs;
  database: string;
  /** The same URL naming only `h` (and without target_session_attrs), for node-postgres. */
  forHost(h: DatabaseHost): string;
  /** host:port,host:port/db — never the user or password (for messages and logs). */
  display: string;
}

const ALL_ATTRS = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'] as const;
const WRITABLE: readonly string[] = ['any', 'read-write', 'primary'];
const DEFAULT_PORT = 5432;

function decode(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new Error(`${what} '${s}' has a malformed %-escape`);
  }
}

function parsePort(p: string): number {
  const n = Number(p);
  if (!/^\d{1,5}$/.test(p) || n < 1 || n > 65535) throw new Error(`port '${p}' is not a number from 1 to 65535`);
  return n;
}

/** `h1:p1,[::1]:p2,h3` → hosts with their own port (or null). */
function splitNetloc(netloc: string): { host: string; port: number | null }[] {
  if (netloc === '') return [];
  return netloc.split(',').map((part) => {
    const m = /^(\[[^\]]+\]|[^:[\]]*)(?::(\d*))?$/.exec(part);
    if (!m) throw new Error(`host '${part}' is not host[:port]`);
    const raw = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : decode(m[1]!, 'host');
    if (raw === '') throw new Error(`an empty host in '${netloc}'`);
    return { host: raw, port: m[2] ? parsePort(m[2]) : null };
  });
}

function hostList(netloc: string, params: URLSearchParams): DatabaseHost[] {
  const fromNetloc = splitNetloc(netloc);
  const hostParam = params.get('host');
  const hosts = hostParam !== null ? hostParam.split(',').map((h) => ({ host: h.trim(), port: null as number | null })) : fromNetloc;
  if (hosts.length === 0) throw new Error('no host: the sidecar connects over TCP or a socket directory, give one');
  if (hosts.some((h) => h.host === '')) throw new Error(`an empty host in '${hostParam}'`);
  const portParam = params.get('port');
  if (portParam !== null) {
    const ports = portParam.split(',').map((p) => parsePort(p.trim()));
    if (ports.length !== 1 && ports.length !== hosts.length) throw new Error(`${hosts.length} hosts but ${ports.length} ports: give one port for all, or one per host`);
    return hosts.map((h, i) => ({ host: h.host, port: ports[ports.length === 1 ? 0 : i]! }));
  }
  return hosts.map((h) => ({ host: h.host, port: h.port ?? DEFAULT_PORT }));
}

/** Throws an Error whose message says what is wrong (never echoing the password). */
export function parseDatabaseUrl(text: string): DatabaseUrl {
  const m = /^(postgres(?:ql)?):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/.exec(text.trim());
  if (!m) throw new Error('expected postgresql://user:password@host:port[,host:port...]/database[?target_session_attrs=read-write]');
  const [, scheme, authority, path, query] = m;
  const at = authority!.lastIndexOf('@');
  const userinfo = at >= 0 ? authority!.slice(0, at) : '';
  const params = new URLSearchParams(query ? query.slice(1) : '');
  const hosts = hostList(at >= 0 ? authority!.slice(at + 1) : authority!, params);
  const attrs = params.get('target_session_attrs') ?? 'any';
  if (!(ALL_ATTRS as readonly string[]).includes(attrs)) throw new Error(`target_session_attrs '${attrs}' is not one of ${ALL_ATTRS.join(', ')}`);
  if (!WRITABLE.includes(attrs)) throw new Error(`target_session_attrs=${attrs} would connect to a standby on purpose; the sidecar writes on every operation: use read-write or primary`);
  const database = decode((path ?? '/').slice(1), 'database');
  const rest = new URLSearchParams(params);
  for (const k of ['host', 'port', 'target_session_attrs']) rest.delete(k);
  const forHost = (h: DatabaseHost): string => {
    const extra = new URLSearchParams(rest);
    // A socket directory cannot sit in the netloc for pg's parser: it takes ?host=/dir.
    const socket = h.host.startsWith('/');
    if (socket) {
      extra.set('host', h.host);
      extra.set('port', String(h.port));
    }
    const netloc = socket ? '' : `${h.host.includes(':') ? `[${h.host}]` : encodeURIComponent(h.host)}:${h.port}`;
    const qs = extra.toString();
    return `${scheme}://${userinfo ? `${userinfo}@` : ''}${netloc}${path ?? ''}${qs ? `?${qs}` : ''}`;
  };
  return {
    hosts,
    targetSessionAttrs: attrs as TargetSessionAttrs,
    database,
    forHost,
    display: `${hosts.map((h) => (h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`)).join(',')}/${database}`,
  };
}

import { isIP } from 'node:net';

/**
 * Which Host headers the HTTP listener answers. A browser on the sidecar's host can be pointed at
 * it through a name the attacker controls that resolves to 127.0.0.1 (DNS rebinding); the request
 * then carries that name as Host, and reading /metrics (team names, no token) would work across
 * origins. Answered: IP literals, localhost, the host's name, the instance id and the names in
 * SIDECAR_ALLOWED_HOSTS; anything else is 421 Misdirected Request (RFC 9110 section 15.5.20).
 */
export function hostAllowed(hostHeader: string | undefined, names: ReadonlySet<string>): boolean {
  if (!hostHeader) return false;
  const host = hostHeader.trim().toLowerCase();
  // [v6]:port, [v6], name:port, v4:port, name
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(host);
  if (bracketed) return isIP(bracketed[1]!) === 6;
  const m = /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(host);
  if (!m) return false;
  const name = m[1]!.replace(/\.$/, '');
  return isIP(name) === 4 || name === 'localhost' || name.endsWith('.localhost') || names.has(name);
}

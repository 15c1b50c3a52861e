import { connect } from 'node:net';
import type { HaproxyEndpoint } from '../config/sidecar-config';

/**
 * /readyz: each dependency reported on its own. `not_configured` is said
 * plainly (and does not make the sidecar unready: a local try-out has no
 * HAProxy); `down` names the cause. Every probe is bounded in time.
 */
export type DependencyState = { status: 'up'; detail?: string } | { status: 'down'; detail: string } | { status: 'not_configured'; detail: string };
export type Probe = () => Promise<DependencyState>;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, DependencyState>;
  message: string;
}

export async function withTimeout<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export async function readiness(probes: Record<string, Probe>, timeoutMs = 2_000): Promise<ReadinessReport> {
  const names = Object.keys(probes);
  const results = await Promise.all(
    names.map(async (name) => {
      try {
        return await withTimeout(timeoutMs, name, probes[name]!());
      } catch (err) {
        return { status: 'down', detail: (err as Error).message } as DependencyState;
      }
    }),
  );
  const checks: Record<string, DependencyState> = {};
  names.forEach((n, i) => (checks[n] = results[i]!));
  const down = names.filter((n) => checks[n]!.status === 'down');
  const notConfigured = names.filter((n) => checks[n]!.status === 'not_configured');
  const message = down.length
    ? `not ready: ${down.map((n) => `${n} is down (${checks[n]!.detail})`).join('; ')}`
    : `ready${notConfigured.length ? `; not configured: ${notConfigured.join(', ')}` : ''}`;
  return { ready: down.length === 0, checks, message };
}

/** Asks the Runtime API `show info`: proves the socket accepts commands, not just connections. */
export function haproxyProbe(endpoint: HaproxyEndpoint | null): Probe {
  return async () => {
    if (!endpoint) return { status: 'not_configured', detail: 'SIDECAR_HAPROXY_SOCKET is not set' };
    const where = endpoint.kind === 'unix' ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
    const text = await new Promise<string>((resolve, reject) => {
      const sock = endpoint.kind === 'unix' ? connect(endpoint.path) : connect(endpoint.port, endpoint.host);
      let out = '';
      sock.setTimeout(2_000, () => sock.destroy(new Error('timed out')));
      sock.on('connect', () => sock.write('show info\n'));
      sock.on('data', (b) => {
        out += b.toString();
        if (out.length > 64 * 1024) sock.destroy();
      });
      sock.on('error', (err) => reject(new Error(`HAProxy Runtime API at ${where}: ${err.message}`)));
      sock.on('close', () => resolve(out));
    });
    if (!/^Name: /m.test(text)) return { status: 'down', detail: `HAProxy Runtime API at ${where} did not answer 'show info'` };
    const version = /^Version: (.*)$/m.exec(text)?.[1];
    return { status: 'up', detail: `${where}${version ? ` (HAProxy ${version})` : ''}` };
  };
}

import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { affinityCookieName } from '../../../catalog/haproxy-names';
import type { SyntheticOutcome } from './sli';

/**
 * A synthetic Jenkins transaction on a switch's target, through HAProxy's HTTP
 * frontend exactly as a person's browser reaches it: the team's Host, the
 * target's affinity cookie, the team's API token. It signs in (whoAmI must say
 * the token's user, not anonymous), fetches a crumb (which opens a session on
 * the target, DefaultCrumbIssuer#issueCrumb) and reads /api/json with that
 * session. Every answer must come from the target (HAProxy's
 * X-Jenkins-Environment): an answer from the other side means the target's
 * cookie no longer reaches it. Real people's requests are sampled by HAProxy;
 * this one is seen first-hand, so a window with little traffic still has it.
 */
export interface SyntheticCheck {
  /** One transaction; null when the team has no API token to sign in with. Never throws. */
  run(team: Team, target: EnvironmentName, signal?: AbortSignal): Promise<SyntheticOutcome | null>;
}

export interface SyntheticCheckOptions {
  /** HAProxy's HTTP frontend as seen from this host. */
  frontend: { host: string; port: number };
  timeoutMs?: number;
  readToken?: (path: string) => string;
}

interface Reply {
  status: number;
  env: string | undefined;
  setCookie: string[];
  body: string;
}

function get(opts: SyntheticCheckOptions, path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: opts.frontend.host, port: opts.frontend.port, method: 'GET', path, headers, agent: false, timeout: opts.timeoutMs ?? 5000, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 1 << 20) chunks.push(c);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, env: res.headers['x-jenkins-environment'] as string | undefined, setCookie: res.headers['set-cookie'] ?? [], body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 5000} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const parse = (body: string): Record<string, unknown> | null => {
  try {
    const v: unknown = JSON.parse(body);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
};

export function haproxySyntheticCheck(opts: SyntheticCheckOptions): SyntheticCheck {
  const readToken = opts.readToken ?? ((p: string) => readFileSync(p, 'utf8'));
  return {
    async run(team, target, signal) {
      if (!team.jenkins_token_file) return null;
      const started = performance.now();
      const done = (failure?: string): SyntheticOutcome => ({ ok: failure === undefined, ...(failure ? { failure } : {}), ms: Math.round(performance.now() - started) });
      let token: string;
      try {
        token = readToken(team.jenkins_token_file).trim();
      } catch (err) {
        return done(`cannot read jenkins_token_file ${team.jenkins_token_file}: ${(err as Error).message}`);
      }
      const cookies = [`${affinityCookieName(team.team_name)}=${target}`];
      const headers = (): Record<string, string> => ({
        host: team.team_name,
        authorization: `Basic ${Buffer.from(`${team.jenkins_user}:${token}`).toString('base64')}`,
        cookie: cookies.join('; '),
      });
      const step = async (path: string, check: (json: Record<string, unknown>) => string | null): Promise<string | null> => {
        let r: Reply;
        try {
          r = await get(opts, path, headers(), signal);
        } catch (err) {
          return `GET ${path.split('?')[0]}: ${(err as Error).message}`;
        }
        if (r.env !== target) return `GET ${path.split('?')[0]} was answered by ${r.env ?? 'HAProxy itself'}, not ${target} (HTTP ${r.status})`;
        if (r.status !== 200) return `GET ${path.split('?')[0]} on ${target}: HTTP ${r.status}`;
        for (const sc of r.setCookie) {
          const pair = sc.split(';')[0];
          if (pair.startsWith('JSESSIONID.')) cookies.push(pair);
        }
        const json = parse(r.body);
        return json ? check(json) : `GET ${path.split('?')[0]} on ${target}: the answer is not JSON`;
      };
      const failure =
        (await step('/whoAmI/api/json', (j) => (j.anonymous === false && j.name === team.jenkins_user ? null : `whoAmI on ${target} says ${String(j.name)} (anonymous ${String(j.anonymous)}): the API token of ${team.jenkins_user} did not sign in`))) ??
        (await step('/crumbIssuer/api/json', (j) => (typeof j.crumb === 'string' && j.crumb.length > 0 ? null : `crumbIssuer on ${target} issued no crumb`))) ??
        (await step('/api/json?tree=mode,quietingDown', (j) => (typeof j._class === 'string' ? null : `/api/json on ${target} has no _class`)));
      return done(failure ?? undefined);
    },
  };
}

import { createServer, request, type Server } from 'node:http';
import type { Team } from '../../catalog/teams-file';
import { createPgStore } from '../../agent/src/store';
import { reconcileWeightsOnce } from '../../agent/src/traffic/reconcile';
import { createTestDatabase } from '../support/database';
import { affinityCookieName, peopleTableName, signedInCookieName } from '../../catalog/haproxy-names';
import { freeTeamPorts } from '../support/backends';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { testTeam } from '../support/haproxy-teams';

/**
 * Session affinity in the generated haproxy.cfg, against a real haproxy: the
 * cookie pins a person, the weights place new visitors, a weight of 0 (final
 * cut, rollback) or maint moves pinned people too, drain does not; and the
 * people table counts person-visible errors only on the controller holding
 * the session. The servers answer with the shapes Jenkins gives: CrumbFilter's
 * 403 body, HudsonAuthenticationEntryPoint's 403 with X-You-Are-Authenticated-As.
 */
interface Answer {
  status: number;
  env: string | undefined;
  setCookie: string | undefined;
}

function jenkinsShapes(name: string): Server {
  return createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/login') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('Sign in');
    } else if (url === '/crumb') {
      // hudson.security.csrf.CrumbFilter#doFilter: sendError(403, "No valid crumb was included in the request")
      res.writeHead(403, { 'content-type': 'text/html' });
      res.end('<html><body><h2>HTTP ERROR 403 No valid crumb was included in the request</h2></body></html>');
    } else if (url === '/j_spring_security_check' || url === '/logout') {
      // AuthenticationProcessingFilter2: a successful login redirects (to `from`); a failed one to /loginError.
      const failed = req.headers['x-test-login'] === 'fail';
      res.writeHead(302, { location: failed ? '/loginError' : '/' });
      res.end();
    } else if (url === '/anonymous') {
      // hudson.security.HudsonAuthenticationEntryPoint#commence: 403, AccessDeniedException3#reportAsHeaders
      res.writeHead(403, { 'content-type': 'text/html', 'x-you-are-authenticated-as': 'anonymous' });
      res.end("<html><head><meta http-equiv='refresh' content='1;url=/login?from=%2Fanonymous'/></head></html>");
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`hello from ${name}`);
    }
  });
}

function get(port: number, path: string, cookie?: string, method = 'GET', extra: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, headers: { ...(cookie ? { cookie } : {}), ...extra } }, (res) => {
      res.resume();
      res.on('end', () => {
        const sc = res.headers['set-cookie'];
        resolve({ status: res.statusCode ?? 0, env: res.headers['x-jenkins-environment'] as string | undefined, setCookie: sc ? sc.join('; ') : undefined });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function many(n: number, port: number, path: string, cookie?: string): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i += 1) {
    const a = await get(port, path, cookie);
    seen[a.env ?? 'none'] = (seen[a.env ?? 'none'] ?? 0) + 1;
  }
  return seen;
}

jest.setTimeout(60_000);

describe('session affinity in the generated haproxy.cfg (real haproxy)', () => {
  let team: Team;
  let hap: HaproxyProcess;
  const servers: Server[] = [];
  let cookie: string;
  const setWeights = (blue: number, green: number): Promise<void> =>
    hap.runtime.setWeights([
      { backend: team.haproxy_backend, server: team.environments.blue.server, weight: blue },
      { backend: team.haproxy_backend, server: team.environments.green.server, weight: green },
    ]);

  beforeAll(async () => {
    team = testTeam({ prefix: 'af', ...(await freeTeamPorts()) });
    cookie = affinityCookieName(team.team_name);
    for (const env of ['blue', 'green'] as const) {
      const s = jenkinsShapes(env);
      await new Promise<void>((r) => s.listen(team.environments[env].web_port, '127.0.0.1', () => r()));
      servers.push(s);
    }
    hap = await startHaproxy([team]);
  });
  afterAll(async () => {
    await hap?.stop();
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  });

  it('pins a new visitor with a cookie naming the server; weights place only new visitors', async () => {
    const first = await get(hap.httpPort, '/');
    expect(first.env).toBe('blue');
    expect(first.setCookie).toContain(`${cookie}=blue`);
    await setWeights(50, 50);
    // 20 people pinned to each side stay there at any weight above 0 ...
    expect(await many(20, hap.httpPort, '/', `${cookie}=blue`)).toEqual({ blue: 20 });
    expect(await many(20, hap.httpPort, '/', `${cookie}=green`)).toEqual({ green: 20 });
    // ... and a pinned request does not get the cookie again (indirect).
    expect((await get(hap.httpPort, '/', `${cookie}=green`)).setCookie).toBeUndefined();
    // New visitors split by weight.
    const fresh = await many(20, hap.httpPort, '/');
    expect(fresh.blue).toBe(10);
    expect(fresh.green).toBe(10);
  });

  it('drain keeps serving pinned people (HAProxy semantics), weight 0 moves them once', async () => {
    await setWeights(50, 50);
    await hap.runtime.setState(team.haproxy_backend, team.environments.blue.server, 'drain');
    expect(await many(10, hap.httpPort, '/', `${cookie}=blue`)).toEqual({ blue: 10 });
    expect(await many(10, hap.httpPort, '/')).toEqual({ green: 10 });
    await hap.runtime.setState(team.haproxy_backend, team.environments.blue.server, 'ready');
    // The final cut / a rollback: the side set to 0 loses its pinned people too.
    await setWeights(0, 100);
    const moved = await get(hap.httpPort, '/', `${cookie}=blue`);
    expect(moved.env).toBe('green');
    expect(moved.setCookie).toContain(`${cookie}=green`);
    expect(await many(20, hap.httpPort, '/', `${cookie}=blue`)).toEqual({ green: 20 });
    await setWeights(100, 0);
    expect(await many(20, hap.httpPort, '/', `${cookie}=green`)).toEqual({ blue: 20 });
  });

  it('maint moves pinned people whatever the weight', async () => {
    await setWeights(50, 50);
    await hap.runtime.setState(team.haproxy_backend, team.environments.green.server, 'maint');
    expect(await many(10, hap.httpPort, '/', `${cookie}=green`)).toEqual({ blue: 10 });
    await hap.runtime.setState(team.haproxy_backend, team.environments.green.server, 'ready');
  });

  it('marks where a person signed in, and clears it at logout', async () => {
    await setWeights(0, 100);
    const signedIn = signedInCookieName(team.team_name);
    expect((await get(hap.httpPort, '/j_spring_security_check', undefined, 'POST')).setCookie).toContain(`${signedIn}=green; path=/; HttpOnly`);
    expect((await get(hap.httpPort, '/j_spring_security_check', undefined, 'POST', { 'x-test-login': 'fail' })).setCookie ?? '').not.toContain(signedIn);
    expect((await get(hap.httpPort, '/j_spring_security_check')).setCookie ?? '').not.toContain(signedIn);
    expect((await get(hap.httpPort, '/logout', `${cookie}=green; ${signedIn}=green`)).setCookie).toContain(`${signedIn}=; path=/; Max-Age=0`);
  });

  it('counts person-visible errors per server, only for a person signed in on that controller', async () => {
    await setWeights(50, 50);
    const table = peopleTableName(team.team_name);
    const signedIn = signedInCookieName(team.team_name);
    const before = await hap.runtime.peopleCounters(table);
    const green = team.environments.green.server;
    const base = before.get(green) ?? { requests: 0, errors: 0 };
    const session = 'JSESSIONID.1a2b3c4d=abc';
    await get(hap.httpPort, '/crumb', `${cookie}=green; ${signedIn}=green; ${session}`);
    await get(hap.httpPort, '/anonymous', `${cookie}=green; ${signedIn}=green; ${session}`);
    await get(hap.httpPort, '/', `${cookie}=green; ${signedIn}=green; ${session}`);
    // Not counted: no session cookie; pinned to green but never signed in there (an anonymous
    // session, or a person just moved from blue who has not signed in again).
    await get(hap.httpPort, '/crumb', `${cookie}=green; ${signedIn}=green`);
    await get(hap.httpPort, '/anonymous', `${cookie}=green; ${session}`);
    await get(hap.httpPort, '/anonymous', `${cookie}=green; ${signedIn}=blue; ${session}`);
    // Pinned to blue but blue is at 0: served by green, a session green never had.
    await setWeights(0, 100);
    await get(hap.httpPort, '/crumb', `${cookie}=blue; ${signedIn}=blue; ${session}`);
    const after = (await hap.runtime.peopleCounters(table)).get(green);
    expect(after).toEqual({ requests: base.requests + 3, errors: base.errors + 2 });
  });

  it('after a reload that lost the weights, the reconcile loop\'s weights alone move pinned people off the bad side again', async () => {
    // A rollback to blue was recorded (desired blue 100 / green 0); green's people were moved.
    const db = await createTestDatabase('af');
    const store = await createPgStore({ connectionString: db.url, instanceId: 'af-test' });
    try {
      await store.environments.ensure(team.team_name, 'blue');
      await store.environments.setDesiredWeights(team.team_name, { blue: 100, green: 0 });
      // HAProxy restarts from a config whose starting weights are 50/50 and no saved state.
      await hap.reload({ weights: { [team.team_name]: { blue: 50, green: 50 } } }, false);
      expect(await many(5, hap.httpPort, '/', `${cookie}=green`)).toEqual({ green: 5 });
      const repairs = await reconcileWeightsOnce({ environments: store.environments, haproxy: hap.runtime, teamConfig: () => team });
      expect(repairs).toEqual([expect.objectContaining({ team: team.team_name, desired: { blue: 100, green: 0 } })]);
      expect(await many(10, hap.httpPort, '/', `${cookie}=green`)).toEqual({ blue: 10 });
    } finally {
      await store.close();
      await db.drop();
    }
  });

  it('says NOT_FOUND for a table haproxy does not have', async () => {
    await expect(hap.runtime.peopleCounters('jsm_people_nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

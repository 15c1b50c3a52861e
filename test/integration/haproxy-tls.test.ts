import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { trafficSwitchParams } from '../../catalog/methods/traffic';
import type { Team } from '../../catalog/teams-file';
import { freePort } from '../../agent/src/store/embedded-postgres';
import { OperationRunner } from '../../agent/src/operations/runner';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { runTrafficSwitch, trafficDeps } from '../../agent/src/traffic/switch';
import { haproxySyntheticCheck } from '../../agent/src/traffic/synthetic';
import { affinityCookieName } from '../../catalog/haproxy-names';
import { freeTeamPorts } from '../support/backends';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { testTeam } from '../support/haproxy-teams';
import { startStandinProcess, type StandinProcess } from '../support/standin-process';

/**
 * The generated config with TLS on (a throwaway self-signed certificate made
 * here with openssl): `haproxy -c` accepts it, HTTPS serves with a Secure
 * affinity cookie, HTTP redirects browsers, and the sidecar's moves (Runtime
 * API weights, a whole switch with its synthetic check) work as without TLS.
 */
jest.setTimeout(90_000);

interface Reply {
  status: number;
  env: string | undefined;
  location: string | undefined;
  setCookie: string;
}

let dir: string;
let pem: string;
let cert: string;
let team: Team;
let hap: HaproxyProcess;
let httpsPort: number;
let db: TestDatabase;
let store: PgStore;
const sides: StandinProcess[] = [];

function https(path: string, cookie?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: httpsPort, path, servername: 'jenkins.test', ca: cert, agent: false, headers: { host: team.team_name, ...(cookie ? { cookie } : {}) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, env: res.headers['x-jenkins-environment'] as string | undefined, location: res.headers.location, setCookie: (res.headers['set-cookie'] ?? []).join(' | ') }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function http(path: string, localAddress: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: hap.httpPort, path, localAddress, agent: false, headers: { host: team.team_name } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, env: res.headers['x-jenkins-environment'] as string | undefined, location: res.headers.location, setCookie: (res.headers['set-cookie'] ?? []).join(' | ') }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jsm-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=jenkins.test', '-addext', 'subjectAltName=DNS:jenkins.test'], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  pem = join(dir, 'haproxy.pem');
  writeFileSync(pem, cert + readFileSync(join(dir, 'key.pem'), 'utf8'), { mode: 0o600 });
  const token = `api-${randomBytes(8).toString('hex')}`;
  writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
  team = { ...testTeam({ prefix: 'tls', ...(await freeTeamPorts()) }), jenkins_user: 'sidecar', jenkins_token_file: join(dir, 'token') };
  for (const env of ['blue', 'green'] as const) {
    const s = await startStandinProcess(team.environments[env].web_port, { team: team.team_name, environment: env });
    await s.control({ users: [{ name: 'sidecar', token }] });
    sides.push(s);
  }
  httpsPort = await freePort();
  hap = await startHaproxy([team], { tls: { httpsPort, certificate: pem } });
  db = await createTestDatabase('tls');
  store = await createPgStore({ connectionString: db.url, instanceId: 'tls-test' });
});

afterAll(async () => {
  await store?.close();
  await db?.drop();
  await hap?.stop();
  for (const s of sides) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('haproxy -c accepts the config with TLS on', () => {
  const cfg = readFileSync(hap.cfgPath, 'utf8');
  expect(cfg).toContain(`bind 127.0.0.1:${httpsPort} ssl crt ${pem}`);
  const out = execFileSync('haproxy', ['-c', '-f', hap.cfgPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  expect(out).toContain('Configuration file is valid');
});

test('HTTPS serves with a Secure affinity cookie; HTTP sends browsers to HTTPS, the local check stays on HTTP', async () => {
  const first = await https('/login');
  expect(first).toMatchObject({ status: 200, env: 'blue' });
  expect(first.setCookie).toMatch(new RegExp(`${affinityCookieName(team.team_name)}=blue; path=/; HttpOnly; Secure`, 'i'));
  const browser = await http('/job/x/?a=1', '127.0.0.2');
  expect(browser.status).toBe(301);
  expect(browser.location).toBe(`https://${team.team_name}:${httpsPort}/job/x/?a=1`);
  expect((await http('/login', '127.0.0.1')).status).toBe(200);
});

test('the sidecar moves people over HTTPS as over HTTP: weights, pins, and a whole switch with its synthetic check', async () => {
  const pin = `${affinityCookieName(team.team_name)}=blue`;
  await hap.runtime.setWeights([
    { backend: team.haproxy_backend, server: team.environments.blue.server, weight: 50 },
    { backend: team.haproxy_backend, server: team.environments.green.server, weight: 50 },
  ]);
  for (let i = 0; i < 6; i += 1) expect((await https('/login', pin)).env).toBe('blue');
  await hap.runtime.setWeights([
    { backend: team.haproxy_backend, server: team.environments.blue.server, weight: 100 },
    { backend: team.haproxy_backend, server: team.environments.green.server, weight: 0 },
  ]);
  const runner = new OperationRunner({ journal: store.journal, clock: { now: () => new Date() } });
  const actor = { tokenId: 'ops', instanceId: 'tls-test' };
  const lock = await store.locks.acquire({ team: team.team_name, operation: 'blue_green_switch', ttlSec: 120, waitSec: 0, owner: 'test', actor });
  const params = trafficSwitchParams.parse({ team: team.team_name, target: 'green', increments: [50, 100], validationSec: 1, sampleIntervalMs: 200, minSamples: 0, drainTimeoutSec: 1, lockToken: lock.token });
  const deps = trafficDeps({ store, haproxy: hap.runtime, teamConfig: () => team, synthetic: haproxySyntheticCheck({ frontend: { host: '127.0.0.1', port: hap.httpPort } }) });
  const outcome = await runner.run({ type: 'traffic.switch', team: team.team_name, params, actor }, (ctx) => runTrafficSwitch(deps, params, ctx));
  const result = outcome.result as { status: string; steps: Array<{ figures: { synthetic: { runs: number; failures: number } } }> };
  expect(result.status).toBe('promoted');
  expect(result.steps.every((s) => s.figures.synthetic.runs >= 1 && s.figures.synthetic.failures === 0)).toBe(true);
  // A person still pinned to blue is on green now, over HTTPS.
  const moved = await https('/login', pin);
  expect(moved.env).toBe('green');
  expect(moved.setCookie).toMatch(new RegExp(`${affinityCookieName(team.team_name)}=green`));
  await runner.drain(5000);
});

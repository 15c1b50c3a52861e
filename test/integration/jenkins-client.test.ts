import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../agent/src/store/embedded-postgres';
import { JenkinsClient } from '../../agent/src/jenkins/client';
import { standinFixtureDir } from '../support/standin-image';

// The stand-in server run as a plain process (no container): the client's HTTP behaviour against real REST shapes.
jest.setTimeout(60_000);
let proc: ChildProcess;
let home: string;
let base: string;
const token = 'tok-123';

async function control(body: Record<string, unknown>): Promise<void> {
  const r = await fetch(`${base}/_standin/control`, { method: 'POST', body: JSON.stringify(body) });
  expect(r.status).toBe(200);
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'jsm-standin-home-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proc = spawn(process.execPath, [join(standinFixtureDir(), 'server.js')], {
    env: { JENKINS_HOME: home, JENKINS_OPTS: `--httpPort=${port}`, STANDIN_LISTEN_HOST: '127.0.0.1', STANDIN_REF_DIR: join(standinFixtureDir(), 'ref'), JENKINS_VERSION: '2.440.1' },
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${base}/login`).then((r) => r.status === 200).catch(() => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await control({ users: [{ name: 'sidecar', token }] });
});

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
  rmSync(home, { recursive: true, force: true });
});

const client = (opts: Partial<ConstructorParameters<typeof JenkinsClient>[0]> = {}) => new JenkinsClient({ baseUrl: base, user: 'sidecar', token, label: 'test/blue', ...opts });

test('whoAmI: the service account is authenticated; anonymous is "authenticated" too but anonymous', async () => {
  expect(await client().whoAmI()).toMatchObject({ name: 'sidecar', anonymous: false, authorities: ['authenticated'] });
  const anon = (await (await fetch(`${base}/whoAmI/api/json`)).json()) as Record<string, unknown>;
  expect(anon).toMatchObject({ name: 'anonymous', anonymous: true, authenticated: true });
});

test('a wrong token is a DEPENDENCY_DOWN auth error naming the token file', async () => {
  const err = await client({ token: 'wrong' }).root().catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'DEPENDENCY_DOWN', data: { reason: 'auth', httpStatus: 401 } });
  expect((err as Error).message).toContain('jenkins_token_file');
  const raw = await fetch(`${base}/api/json`, { headers: { Authorization: `Basic ${Buffer.from('sidecar:wrong').toString('base64')}` } });
  expect(raw.headers.get('www-authenticate')).toBe('Basic realm="Jenkins"');
});

test('jobs in folders come back with full names from the recursive tree', async () => {
  await client().createJob('f', '<com.cloudbees.hudson.plugins.folder.Folder/>');
  await client().createJob('f/inner', '<flow-definition/>');
  await client().createJob('top', '<project><disabled>true</disabled></project>');
  const jobs = await client().listJobs();
  expect(jobs.map((j) => [j.fullName, j.folder, j.disabled])).toEqual([
    ['f', true, false],
    ['f/inner', false, false],
    ['top', false, true],
  ]);
});

test('quietDown is POST-only (405 on GET) and answers 302; cancelQuietDown undoes it', async () => {
  const get = await client().raw('GET', '/quietDown');
  expect(get.status).toBe(405);
  expect(get.headers.get('allow')).toBe('POST');
  await client().quietDown('migration');
  expect(await client().root()).toMatchObject({ quietingDown: true });
  await client().cancelQuietDown();
  expect(await client().root()).toMatchObject({ quietingDown: false });
});

test('the crumb is fetched (with its session cookie) only when the server asks for one', async () => {
  await control({ requireCrumb: true });
  try {
    const raw = await client().raw('POST', '/quietDown');
    expect(raw.status).toBe(403);
    const c = client();
    await c.quietDown();
    expect((await c.root()).quietingDown).toBe(true);
    await c.cancelQuietDown();
  } finally {
    await control({ requireCrumb: false });
  }
});

test('reload: 503 while reloading is an "unavailable" error, then jobs are re-read from disk', async () => {
  await control({ reloadMs: 800 });
  await client().reload();
  const during = await client().root().catch((e: unknown) => e);
  expect(during).toMatchObject({ code: 'DEPENDENCY_DOWN', data: { reason: 'unavailable', httpStatus: 503 } });
  let ok = false;
  for (let i = 0; i < 40 && !ok; i++) {
    ok = await client().root().then(() => true, () => false);
    if (!ok) await new Promise((r) => setTimeout(r, 100));
  }
  expect(ok).toBe(true);
  const state = (await (await fetch(`${base}/_standin/control`)).json()) as { reloads: number };
  expect(state.reloads).toBe(1);
});

test('a slow controller ends in a timeout error; an unreachable one says it cannot connect', async () => {
  await control({ slowMs: 1500 });
  try {
    await expect(client({ timeoutMs: 300 }).root()).rejects.toMatchObject({ code: 'DEPENDENCY_DOWN', data: { reason: 'timeout' } });
  } finally {
    await control({ slowMs: 0 });
  }
  const dead = new JenkinsClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, user: 'u', token: 't' });
  await expect(dead.root()).rejects.toMatchObject({ code: 'DEPENDENCY_DOWN', data: { reason: 'unreachable' } });
  expect(await dead.probeLogin(500)).toBe(false);
});

test('SIGTERM stops the stand-in with exit code 0', async () => {
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  proc.kill('SIGTERM');
  expect(await exited).toBe(0);
});

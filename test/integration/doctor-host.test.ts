import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../agent/src/db/embedded-postgres';
import { doctorCommand } from '../../agent/src/doctor/command';
import type { CheckResult } from '../../agent/src/doctor/check-result';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * `sidecarctl doctor` against real things: a temp tokens file and Jenkins token
 * file with real modes, a real PostgreSQL, a real haproxy with an admin and an
 * operator-level socket, the machine's Docker engine.
 */
const dir = mkdtempSync(join(tmpdir(), 'jsm-doctor-'));
const adminSock = join(dir, 'admin.sock');
const operSock = join(dir, 'oper.sock');
const tokensFile = join(dir, 'tokens.yml');
const teamsFile = join(dir, 'teams.yml');
const jenkinsToken = join(dir, 'devops.token');
let db: TestDatabase;
let haproxy: ChildProcess | undefined;
let listenPort: number;

async function waitFor(path: string): Promise<void> {
  for (let i = 0; i < 100 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(path)) throw new Error(`haproxy did not create ${path}`);
}

beforeAll(async () => {
  db = await createTestDatabase('doctor');
  listenPort = await freePort();
  writeFileSync(tokensFile, `tokens:\n  - id: ops\n    sha256: ${'b'.repeat(64)}\n    teams: ["*"]\n`);
  writeFileSync(jenkinsToken, 'jenkins-api-token\n');
  writeFileSync(teamsFile, `jenkins_teams:\n  - team_name: devops\n    jenkins_token_file: ${jenkinsToken}\n`);
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    [
      'global',
      `  stats socket ${adminSock} mode 600 level admin`,
      `  stats socket ${operSock} mode 600 level operator`,
      'defaults',
      '  mode http',
      '  timeout client 5s',
      '  timeout server 5s',
      '  timeout connect 1s',
      '',
    ].join('\n'),
  );
  haproxy = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
  await waitFor(adminSock);
  await waitFor(operSock);
});

afterAll(async () => {
  if (haproxy && haproxy.exitCode === null) {
    const gone = new Promise((r) => haproxy?.once('exit', r));
    haproxy.kill('SIGTERM');
    await gone;
  }
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function doctor(over: Record<string, string>): Promise<{ code: number; checks: CheckResult[]; text: string }> {
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    SIDECAR_LISTEN: `127.0.0.1:${listenPort}`,
    SIDECAR_DATABASE_URL: db.url,
    SIDECAR_TOKENS_FILE: tokensFile,
    SIDECAR_TEAMS_FILE: teamsFile,
    SIDECAR_HAPROXY_SOCKET: adminSock,
    SIDECAR_DATA_DIR: join(dir, 'data'),
    ...over,
  };
  let json = '';
  const code = await doctorCommand({ env, json: true, write: (t) => (json += t) });
  let text = '';
  await doctorCommand({ env, write: (t) => (text += t) });
  return { code, checks: (JSON.parse(json) as { checks: CheckResult[] }).checks, text };
}

const check = (checks: CheckResult[], name: string): CheckResult | undefined => checks.find((c) => c.name === name);

describe('sidecarctl doctor on a real host', () => {
  it('reports a missing HAProxy socket and world-readable token files, each with its fix, and exits non-zero', async () => {
    chmodSync(tokensFile, 0o644);
    chmodSync(jenkinsToken, 0o644);
    const missing = join(dir, 'no-such-haproxy.sock');
    const r = await doctor({ SIDECAR_HAPROXY_SOCKET: missing });
    expect(r.code).toBe(1);
    expect(check(r.checks, 'haproxy')).toMatchObject({
      status: 'fail',
      summary: `the Runtime API socket ${missing} does not exist`,
      fix: expect.stringContaining(`stats socket ${missing} mode 660 level admin`),
    });
    expect(check(r.checks, 'tokens file')).toMatchObject({
      status: 'fail',
      summary: `${tokensFile} is accessible to every user on this host (mode 644)`,
      fix: expect.stringContaining(`chmod o-rwx ${tokensFile}`),
    });
    expect(check(r.checks, 'jenkins token of devops')).toMatchObject({ status: 'fail', fix: expect.stringContaining(`chmod o-rwx ${jenkinsToken}`) });
    expect(r.text).toContain(`[FAIL] haproxy: the Runtime API socket ${missing} does not exist`);
    expect(r.text).toContain(`fix: chmod o-rwx ${tokensFile}`);
    expect(r.text).toMatch(/3 problem\(s\) to fix/);
  });

  it('passes the same host once the files are 0640 and the socket is haproxy at admin level', async () => {
    chmodSync(tokensFile, 0o640);
    chmodSync(jenkinsToken, 0o600);
    const r = await doctor({});
    expect(check(r.checks, 'tokens file')).toMatchObject({ status: 'ok' });
    expect(check(r.checks, 'jenkins token of devops')).toMatchObject({ status: 'ok' });
    expect(check(r.checks, 'haproxy')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/^HAProxy 2\.\d+.* level admin$/) });
    expect(check(r.checks, 'postgres')).toMatchObject({ status: 'ok', summary: expect.stringContaining('PostgreSQL') });
    expect(check(r.checks, 'clock skew')?.status).toBe('ok');
    expect(check(r.checks, 'docker')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/^Docker \S+ \(API/) });
    // Nothing listens on the configured port: a warning, not a failure.
    expect(check(r.checks, 'sidecar')?.status).toBe('warn');
    expect(r.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('fails a Runtime API socket below admin level, found by trying an admin command', async () => {
    const r = await doctor({ SIDECAR_HAPROXY_SOCKET: operSock });
    expect(check(r.checks, 'haproxy')).toMatchObject({ status: 'fail', summary: expect.stringContaining('level operator, not admin'), fix: expect.stringContaining("set 'level admin'") });
    expect(r.code).toBe(1);
  });

  it('fails an unreachable database and a stale socket file with what to do', async () => {
    // What a killed haproxy leaves behind: its socket file, with nobody listening.
    const stale = join(dir, 'stale.sock');
    writeFileSync(join(dir, 'stale.cfg'), `global\n  stats socket ${stale} mode 600 level admin\n`);
    const doomed = spawn('haproxy', ['-f', join(dir, 'stale.cfg')], { stdio: 'ignore' });
    await waitFor(stale);
    const exited = new Promise((r) => doomed.once('exit', r));
    doomed.kill('SIGKILL');
    await exited;
    expect(existsSync(stale)).toBe(true);
    const deadPort = await freePort();
    const r = await doctor({ SIDECAR_HAPROXY_SOCKET: stale, SIDECAR_DATABASE_URL: `postgres://u:pw@127.0.0.1:${deadPort}/x` });
    expect(check(r.checks, 'postgres')).toMatchObject({ status: 'fail', fix: expect.stringContaining('start PostgreSQL') });
    expect(check(r.checks, 'postgres')?.summary).not.toContain(':pw@');
    expect(check(r.checks, 'haproxy')).toMatchObject({ status: 'fail', summary: expect.stringContaining('nothing listens on') });
  });

  it('runs as `sidecarctl doctor` from the build: the report on stdout, exit 1 (integration tests need a fresh `npm run build`)', () => {
    chmodSync(tokensFile, 0o604);
    const missing = join(dir, 'gone.sock');
    const bin = join(__dirname, '..', '..', 'build', 'agent', 'src', 'bin', 'sidecarctl.js');
    const r = spawnSync(process.execPath, [bin, 'doctor', '--skip-sidecar'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        SIDECAR_DATABASE_URL: db.url,
        SIDECAR_TOKENS_FILE: tokensFile,
        SIDECAR_HAPROXY_SOCKET: missing,
        SIDECAR_DATA_DIR: join(dir, 'data'),
      },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`[FAIL] haproxy: the Runtime API socket ${missing} does not exist`);
    expect(r.stdout).toContain(`[FAIL] tokens file: ${tokensFile} is accessible to every user on this host (mode 604)`);
    expect(r.stdout).toContain(`fix: chmod o-rwx ${tokensFile}`);
    expect(r.stdout).toContain('[ OK ] postgres');
    expect(r.stdout).not.toMatch(/^\[.{4}\] sidecar:/m); // --skip-sidecar leaves the running-sidecar check out
    chmodSync(tokensFile, 0o640);
  });
});

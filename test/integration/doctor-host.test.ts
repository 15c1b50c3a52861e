import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../agent/src/store/embedded-postgres';
import { doctorCommand } from '../../agent/src/doctor/command';
import type { CheckResult } from '../../agent/src/doctor/check-result';
import { createSecretCommand } from '../../agent/src/environments/controller-files';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * `sidecarctl doctor` against real things: a temp tokens file and Jenkins token
 * file with real modes, a real PostgreSQL, a real haproxy with an admin and an
 * operator-level socket, the machine's Docker engine, and the controller
 * secrets and library directory a deploy of the team would mount.
 */
const dir = mkdtempSync(join(tmpdir(), 'jsm-doctor-'));
const adminSock = join(dir, 'admin.sock');
const operSock = join(dir, 'oper.sock');
const tokensFile = join(dir, 'tokens.yml');
const teamsFile = join(dir, 'teams.yml');
const jenkinsToken = join(dir, 'devops.token');
const secretsRoot = join(dir, 'teams');
const libraryDir = join(dir, 'library.git');
const secretsDir = join(secretsRoot, 'devops', 'secrets');
const SECRET_FILES = ['jenkins-admin-password', 'jenkins-service-password', 'sidecar-token'];
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
  // What the operations guide says to create: readable by the controller's group 1000, nobody else.
  mkdirSync(secretsDir, { recursive: true, mode: 0o750 });
  mkdirSync(libraryDir);
  for (const f of SECRET_FILES) {
    writeFileSync(join(secretsDir, f), 'c2VjcmV0\n', { mode: 0o640 });
    chownSync(join(secretsDir, f), 0, 1000);
  }
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
    SIDECAR_CONTROLLER_SECRETS_ROOT: secretsRoot,
    SIDECAR_CONTROLLER_LIBRARY_DIR: libraryDir,
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
    expect(check(r.checks, 'controller files of devops')).toMatchObject({ status: 'ok', summary: `ready to mount: 3 secret file(s) in ${secretsDir}, library ${libraryDir}` });
    expect(check(r.checks, 'haproxy')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/^HAProxy 2\.\d+.* level admin$/) });
    expect(check(r.checks, 'postgres')).toMatchObject({ status: 'ok', summary: expect.stringContaining('PostgreSQL') });
    expect(check(r.checks, 'clock skew')?.status).toBe('ok');
    expect(check(r.checks, 'docker')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/^Docker \S+ \(API/) });
    // Nothing listens on the configured port: a warning, not a failure.
    expect(check(r.checks, 'sidecar')?.status).toBe('warn');
    expect(r.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('fails the controller files a deploy would refuse, naming each with its command, and passes once those commands ran', async () => {
    const missing = join(secretsDir, 'jenkins-admin-password');
    const open = join(secretsDir, 'jenkins-service-password');
    chmodSync(tokensFile, 0o640); // every other file as in the passing case: exit 1 is the controller files' doing
    chmodSync(jenkinsToken, 0o600);
    rmSync(missing);
    chmodSync(open, 0o644);
    const r = await doctor({});
    const files = check(r.checks, 'controller files of devops');
    expect(files).toMatchObject({ status: 'fail', summary: 'environment.deploy would refuse 2 of 4 file(s)' });
    expect(files?.details).toEqual([
      `secret file ${missing} does not exist: team devops's jenkins.yaml reads it at /run/secrets/jenkins-admin-password (secrets.admin_password)`,
      `secret file ${open} is readable by every user (mode 644, secrets.service_password)`,
    ]);
    const fixes = files?.fix?.split('\n') ?? [];
    expect(fixes).toEqual([`create it: ${createSecretCommand(missing)}`, `fix it: chgrp 1000 ${open} && chmod 0640 ${open}`]);
    expect(r.text).toContain(`[FAIL] controller files of devops: environment.deploy would refuse 2 of 4 file(s)`);
    expect(r.code).toBe(1);
    // The printed commands are the fix: run them as printed (temp paths only, no user text).
    for (const line of fixes) {
      const ran = spawnSync('sh', ['-c', line.replace(/^(create|fix) it: /, '')], { encoding: 'utf8', timeout: 10_000 });
      expect({ line, status: ran.status, stderr: ran.stderr }).toEqual({ line, status: 0, stderr: '' });
    }
    const after = await doctor({});
    expect(check(after.checks, 'controller files of devops')?.status).toBe('ok');
    expect(after.code).toBe(0);
  });

  it('warns, exit 0, when the controller (uid/gid 1000) cannot read a secret that deploy would accept', async () => {
    const token = join(secretsDir, 'sidecar-token');
    chmodSync(tokensFile, 0o640);
    chmodSync(jenkinsToken, 0o600);
    chownSync(token, 0, 0);
    chmodSync(token, 0o600);
    try {
      const r = await doctor({});
      expect(check(r.checks, 'controller files of devops')).toMatchObject({
        status: 'warn',
        summary: '1 of 4 file(s) the controller cannot read',
        details: [`the controller (uid/gid 1000) cannot read secret file ${token} (owner 0:0, mode 600, secrets.sidecar_token): it would start without it`],
        fix: `chgrp 1000 ${token} && chmod 0640 ${token}`,
      });
      expect(r.code).toBe(0);
    } finally {
      chownSync(token, 0, 1000);
      chmodSync(token, 0o640);
    }
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

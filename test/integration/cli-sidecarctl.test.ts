import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../agent/src/store/embedded-postgres';
import { createTestDatabase } from '../support/database';
import { tempDir, uniqueId } from '../support/sidecar-harness';
import { REPO_ROOT, SIDECARCTL_BIN, runSidecarctl, spawnSidecarProcess, writeTokensFile, type SidecarChild } from '../support/sidecar-process';

/**
 * The real commands as a user runs them: `jenkins-sidecar` with no configuration
 * at all (embedded PostgreSQL in a temp data dir, generated ops token) and
 * `sidecarctl` from a shell. Needs a fresh `npm run build` (npm test does it).
 */
let dir: string;
let sidecar: SidecarChild;
let token: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = tempDir('jsm-cli-');
  // Only what the test must pin: where the data goes (the listener is 127.0.0.1:0). No database URL, no tokens file.
  sidecar = await spawnSidecarProcess({ env: { HOME: dir, SIDECAR_DATA_DIR: join(dir, 'data') }, startTimeoutMs: 90_000 });
  token = readFileSync(join(dir, 'data', 'ops-token'), 'utf8').trim();
  env = { SIDECAR_URL: sidecar.rpcUrl, SIDECAR_TOKEN: token };
}, 120_000);

afterAll(async () => {
  await sidecar?.stop(40_000);
  rmSync(dir, { recursive: true, force: true });
});

describe('jenkins-sidecar with no configuration', () => {
  it('starts an embedded PostgreSQL and says where the generated ops token is', async () => {
    expect(sidecar.log()).toMatch(/generated the local ops token in .*\/data\/ops-token \(mode 600\)/);
    expect(sidecar.log()).toContain('"message":"embedded PostgreSQL started"');
    const ready = (await (await fetch(`${sidecar.httpUrl}/readyz`)).json()) as { checks: Record<string, { status: string }> };
    expect(ready.checks.postgres!.status).toBe('up');
    const mode = spawnSync('stat', ['-c', '%a', join(dir, 'data', 'ops-token')], { encoding: 'utf8' }).stdout.trim();
    expect(mode).toBe('600');
  });

  it('lock.acquire and lock.release work from a shell with the token', () => {
    const script = [
      'set -e',
      `export SIDECAR_TOKEN="$(cat '${join(dir, 'data', 'ops-token')}')"`,
      `node '${SIDECARCTL_BIN}' call lock.acquire --params '{"team":"devops","operation":"blue_green_switch","ttlSec":120,"build":"devops/Infrastructure/Switch#41"}' > '${join(dir, 'grant.json')}'`,
      `TOKEN=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).token)' '${join(dir, 'grant.json')}')`,
      `node '${SIDECARCTL_BIN}' call lock.release --params "{\\"team\\":\\"devops\\",\\"operation\\":\\"blue_green_switch\\",\\"token\\":$TOKEN}"`,
    ].join('\n');
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { env: { PATH: process.env.PATH ?? '', HOME: dir, SIDECAR_URL: sidecar.rpcUrl }, encoding: 'utf8', cwd: REPO_ROOT, timeout: 60_000 });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(JSON.parse(readFileSync(join(dir, 'grant.json'), 'utf8'))).toMatchObject({ lockName: 'devops:blue_green_switch', holder: 'local-ops' });
    expect(JSON.parse(r.stdout)).toEqual({ released: true });
  });
});

describe('sidecarctl exit codes against the running sidecar', () => {
  it('0: prints the JSON result (or writes --result-file)', async () => {
    const r = await runSidecarctl(['call', 'environment.status', '--params', '{"team":"devops"}'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ active: 'blue', weights: { blue: 100, green: 0 } });
    const file = join(dir, 'locks.json');
    const f = await runSidecarctl(['call', 'lock.list', '--result-file', file], env);
    expect(f).toMatchObject({ code: 0, stdout: '' });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toHaveProperty('locks');
  });

  it('0: streams progress lines to stderr before the result', async () => {
    const r = await runSidecarctl(['call', 'consensus.request', '--params', '{"team":"devops","operation":"blue_green_switch","timeoutSec":20}'], env);
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/^progress: \{"/);
    expect(JSON.parse(lines[0]!.slice('progress: '.length))).toMatchObject({ phase: 'voting' });
    expect(JSON.parse(r.stdout)).toMatchObject({ approved: true });
  });

  it('2: bad JSON in --params, unknown command', async () => {
    const bad = await runSidecarctl(['call', 'lock.acquire', '--params', '{"team":'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--params is not valid JSON/);
    expect((await runSidecarctl(['no-such-command'], env)).code).toBe(2);
  });

  it('3: a sidecar error prints its symbolic code and message; --result-file gets the error', async () => {
    const held = await runSidecarctl(['call', 'lock.acquire', '--params', '{"team":"devops","operation":"cli_conflict","ttlSec":60,"owner":"first"}'], env);
    expect(held.code).toBe(0);
    const file = join(dir, 'err.json');
    const r = await runSidecarctl(['call', 'lock.acquire', '--params', '{"team":"devops","operation":"cli_conflict","owner":"second"}', '--result-file', file], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^sidecarctl: LOCK_HELD: lock cli_conflict for team devops is held by first until /);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ error: { code: -32000, symbolicCode: 'LOCK_HELD', data: { holder: 'first' } } });
    const invalid = await runSidecarctl(['call', 'lock.acquire', '--params', '{"team":"devops"}'], env);
    expect(invalid.code).toBe(3);
    expect(invalid.stderr).toMatch(/^sidecarctl: INVALID_PARAMS: invalid params: operation: /);
  });

  it("3: a CONFLICT names its reason on stderr and in --result-file", async () => {
    const key = `cli-key-${Date.now().toString(36)}`;
    const first = await runSidecarctl(['call', 'lock.acquire', '--params', JSON.stringify({ team: 'devops', operation: 'cli_reason', ttlSec: 60, owner: 'first', idempotencyKey: key })], env);
    expect(first.code).toBe(0);
    const file = join(dir, 'conflict.json');
    const r = await runSidecarctl(['call', 'coordination.update', '--params', JSON.stringify({ team: 'devops', operation: 'stage', idempotencyKey: key }), '--result-file', file], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^sidecarctl: CONFLICT \(idempotency_key_reused\): idempotency ?[kK]ey .* already belongs to operation /);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ error: { symbolicCode: 'CONFLICT', reason: 'idempotency_key_reused', data: { code: 'CONFLICT', reason: 'idempotency_key_reused' } } });
  });

  it('4: wrong token (401) or nothing listening', async () => {
    const wrong = await runSidecarctl(['locks'], { ...env, SIDECAR_TOKEN: 'not-the-token-0123456789' });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/HTTP 401 \(check SIDECAR_TOKEN\)/);
    const port = await freePort();
    const down = await runSidecarctl(['locks'], { ...env, SIDECAR_URL: `ws://127.0.0.1:${port}/rpc` });
    expect(down.code).toBe(4);
    expect(down.stderr).toMatch(/cannot connect to the sidecar at ws:\/\/127.0.0.1:\d+\/rpc: connect ECONNREFUSED/);
  });

  it('status, locks and audit shortcuts', async () => {
    const status = await runSidecarctl(['status'], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).teams.map((t: { team: string }) => t.team)).toContain('devops');
    const locks = await runSidecarctl(['locks', '--team', 'devops'], env);
    expect(JSON.parse(locks.stdout).locks.map((l: { lockName: string }) => l.lockName)).toContain('devops:cli_conflict');
    const audit = await runSidecarctl(['audit', '--team', 'devops', '--limit', '3'], env);
    expect(audit.code).toBe(0);
    expect(JSON.parse(audit.stdout).audit).toHaveLength(3);
  });
});

describe('re-attaching', () => {
  it('retries a call with an idempotencyKey until the sidecar is back, then prints the one result', async () => {
    const db = await createTestDatabase('cliretry');
    const sub = tempDir('jsm-cli-retry-');
    const port = await freePort();
    const tokensPath = join(sub, 'tokens.yaml');
    const secrets = writeTokensFile(tokensPath, [{ id: 'ops', teams: ['*'] }]);
    let late: SidecarChild | undefined;
    try {
      const call = runSidecarctl(
        ['call', 'lock.acquire', '--params', JSON.stringify({ team: 'devops', operation: 'retry_test', ttlSec: 60, idempotencyKey: uniqueId('retry') })],
        { SIDECAR_URL: `ws://127.0.0.1:${port}/rpc`, SIDECAR_TOKEN: secrets.ops!, SIDECARCTL_RECONNECT_SEC: '60' },
      );
      await new Promise((r) => setTimeout(r, 1_000)); // sidecarctl is now retrying against a closed port
      late = await spawnSidecarProcess({
        env: { HOME: sub, SIDECAR_LISTEN: `127.0.0.1:${port}`, SIDECAR_DATABASE_URL: db.url, SIDECAR_TOKENS_FILE: tokensPath, SIDECAR_DATA_DIR: join(sub, 'data') },
        startTimeoutMs: 90_000,
      });
      const r = await call;
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/ECONNREFUSED 127.0.0.1:\d+; retrying with idempotencyKey retry-[0-9a-f]+ in /);
      expect(JSON.parse(r.stdout)).toMatchObject({ lockName: 'devops:retry_test', holder: 'ops' });
    } finally {
      await late?.stop(40_000);
      await db.drop();
      rmSync(sub, { recursive: true, force: true });
    }
  });
});

describe('emergency-stop shortcut', () => {
  it('reaches rollback.emergency and reports its outcome with a symbolic code', async () => {
    const r = await runSidecarctl(['emergency-stop', '--team', 'devops', '--reason', 'cli shortcut test'], env);
    // This sidecar has no HAProxy configured, so the rollback itself cannot move traffic: exit 3, not a usage or method error.
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^sidecarctl: [A-Z_]+: /);
    expect(r.stderr).not.toMatch(/METHOD_NOT_FOUND|INVALID_PARAMS/);
  });
});

describe('shutdown', () => {
  it('SIGTERM exits 0 and stops the embedded PostgreSQL', async () => {
    const pidFile = join(dir, 'data', 'postgres', 'postmaster.pid');
    expect(existsSync(pidFile)).toBe(true);
    const code = await sidecar.stop(40_000);
    expect(code).toBe(0);
    expect(sidecar.log()).toContain('"message":"stopped"');
    expect(existsSync(pidFile)).toBe(false);
  });

  it('exits non-zero with one clear line when PostgreSQL is unreachable at start', async () => {
    const port = await freePort();
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'build', 'agent', 'src', 'bin', 'jenkins-sidecar.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        SIDECAR_DATA_DIR: join(dir, 'data2'),
        SIDECAR_LISTEN: `127.0.0.1:${await freePort()}`,
        SIDECAR_DATABASE_URL: `postgres://nobody:pw@127.0.0.1:${port}/coord`,
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^jenkins-sidecar: cannot use PostgreSQL at 127.0.0.1:${port}/coord: .*ECONNREFUSED.*; check SIDECAR_DATABASE_URL`));
    expect(r.stderr).not.toContain(':pw@');
  });
});

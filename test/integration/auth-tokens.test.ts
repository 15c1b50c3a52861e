import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { TokenAuthenticator } from '../../agent/src/rpc/token-auth';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { httpGet, RpcClient, upgradeStatus } from '../support/sidecar-process-rpc';
import { REPO_ROOT, sha256Hex, startSidecarProcess, writeTokensFile, type SidecarProcess } from '../support/sidecar-process';

/**
 * Authentication and authorization of a real jenkins-sidecar process: bearer
 * tokens on the upgrade (HTTP 401 before any WebSocket exists), tokens in the
 * query string refused, a team token confined to its teams, and the token
 * comparison done with crypto.timingSafeEqual on fixed-length digests.
 */
// Wraps the real timingSafeEqual so the test can see how the authenticator calls it.
jest.mock('node:crypto', () => {
  const actual = jest.requireActual<typeof import('node:crypto')>('node:crypto');
  return { ...actual, timingSafeEqual: jest.fn(actual.timingSafeEqual) };
});

const suffix = crypto.randomBytes(3).toString('hex');
const ALPHA = `alpha-${suffix}`;
const BETA = `beta-${suffix}`;

// jest.config.js's per-project testTimeout is not applied by jest (it is a global option): set it here.
jest.setTimeout(60_000);

let db: TestDatabase;
let sc: SidecarProcess;

beforeAll(async () => {
  db = await createTestDatabase('auth');
  sc = await startSidecarProcess({
    databaseUrl: db.url,
    tokens: [
      { id: 'ops', teams: ['*'] },
      { id: 'alpha-ci', teams: [ALPHA] },
      { id: 'beta-ci', teams: [BETA] },
    ],
  });
});

afterAll(async () => {
  await sc?.stop();
  await db?.drop();
});

async function countRows(sql: string, params: unknown[] = []): Promise<number> {
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>(sql, params);
    return Number(r.rows[0]!.n);
  } finally {
    await c.end();
  }
}

describe('the upgrade request', () => {
  it('is refused with 401 without a token, with a wrong or malformed one, and accepted with a listed one', async () => {
    const none = await upgradeStatus(sc.rpcUrl, null);
    expect(none.status).toBe(401);
    expect(none.body).toMatch(/missing Authorization/);

    const wrong = await upgradeStatus(sc.rpcUrl, crypto.randomBytes(24).toString('hex'));
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatch(/unknown token/);

    // A prefix of a real token is not that token.
    const prefix = await upgradeStatus(sc.rpcUrl, sc.secrets['ops']!.slice(0, 20));
    expect(prefix.status).toBe(401);

    const basic = await upgradeStatus(sc.rpcUrl, null, { Authorization: `Basic ${Buffer.from(`x:${sc.secrets['ops']}`).toString('base64')}` });
    expect(basic.status).toBe(401);
    expect(basic.body).toMatch(/malformed Authorization/);

    const ok = await upgradeStatus(sc.rpcUrl, sc.secrets['ops']!);
    expect(ok.status).toBe(101);
  });

  it('refuses a token in the query string even when the header is right', async () => {
    for (const key of ['token', 'access_token', 'Authorization']) {
      const url = `${sc.rpcUrl}?${key}=${sc.secrets['ops']}`;
      const withHeader = await upgradeStatus(url, sc.secrets['ops']!);
      expect(withHeader.status).toBe(401);
      expect(withHeader.body).toMatch(/query string/);
      const alone = await upgradeStatus(url, null);
      expect(alone.status).toBe(401);
    }
    // The secret does not land in the sidecar's log.
    expect(sc.log()).not.toContain(sc.secrets['ops']);
  });

  it('protects the REST read API with the same tokens', async () => {
    const anon = await httpGet(`${sc.httpUrl}/api/v1/locks`);
    expect(anon.status).toBe(401);
    const bad = await httpGet(`${sc.httpUrl}/api/v1/locks`, { Authorization: `Bearer ${crypto.randomBytes(24).toString('hex')}` });
    expect(bad.status).toBe(401);
    const good = await httpGet(`${sc.httpUrl}/api/v1/locks`, { Authorization: `Bearer ${sc.secrets['ops']}` });
    expect(good.status).toBe(200);
  });
});

describe('a team token', () => {
  it("acts on its own team, is FORBIDDEN on another team's, and the refusal changes nothing but the audit trail", async () => {
    const alpha = await RpcClient.connect(sc.rpcUrl, sc.secrets['alpha-ci']!);
    const beta = await RpcClient.connect(sc.rpcUrl, sc.secrets['beta-ci']!);
    try {
      const mine = await alpha.call('lock.acquire', { team: ALPHA, operation: 'auth_probe', ttlSec: 60 });
      expect(mine.error).toBeUndefined();
      expect(mine.result).toMatchObject({ lockName: `${ALPHA}:auth_probe` });

      const locksBefore = await countRows('SELECT count(*) AS n FROM coordination_locks');
      const auditBefore = await countRows('SELECT count(*) AS n FROM deployment_audit');
      for (const [method, params] of [
        ['lock.acquire', { team: BETA, operation: 'auth_probe', ttlSec: 60 }],
        ['lock.release', { team: BETA, operation: 'auth_probe' }],
        ['coordination.update', { team: BETA, operation: 'deploy', status: 'SUCCESS' }],
        ['leadership.establish', { team: BETA }],
        ['environment.status', { team: BETA }],
      ] as const) {
        const theirs = await alpha.call(method, params);
        expect(theirs.error).toMatchObject({ code: -32000, data: { code: 'FORBIDDEN' } });
        expect(theirs.error!.message).toContain(BETA);
      }
      expect(await countRows('SELECT count(*) AS n FROM coordination_locks')).toBe(locksBefore);
      // Each refused mutating call is on the audit trail as a FAILURE (FORBIDDEN) row; nothing else changed.
      expect(await countRows('SELECT count(*) AS n FROM deployment_audit')).toBe(auditBefore + 4);
      expect(await countRows("SELECT count(*) AS n FROM deployment_audit WHERE status = 'FAILURE' AND audit_metadata->'error'->>'code' = 'FORBIDDEN'")).toBe(4);

      // Listings show only the token's own teams.
      const betaLock = await beta.call('lock.acquire', { team: BETA, operation: 'auth_probe', ttlSec: 60, idempotencyKey: `beta-${suffix}` });
      expect(betaLock.error).toBeUndefined();
      const listed = await alpha.call('lock.list', {});
      const names = (listed.result as { locks: Array<{ lockName: string }> }).locks.map((l) => l.lockName);
      expect(names).toContain(`${ALPHA}:auth_probe`);
      expect(names).not.toContain(`${BETA}:auth_probe`);

      // Another team's operation cannot be read by id either.
      const ops = await beta.call('operation.get', { operationId: await journalIdOf(`team:${BETA}/beta-${suffix}`) });
      expect(ops.error).toBeUndefined();
      const peek = await alpha.call('operation.get', { operationId: await journalIdOf(`team:${BETA}/beta-${suffix}`) });
      expect(peek.error).toMatchObject({ data: { code: 'FORBIDDEN' } });

      // Ops-only methods refuse team tokens... and the ops token acts on every team.
      const ops2 = await RpcClient.connect(sc.rpcUrl, sc.secrets['ops']!);
      try {
        const any = await ops2.call('lock.release', { team: BETA, operation: 'auth_probe', owner: 'beta-ci' });
        expect(any.result).toEqual({ released: true });
      } finally {
        await ops2.close();
      }
    } finally {
      await alpha.close();
      await beta.close();
    }
  });
});

/** The journal keeps a key within its team (`team:<team>/<key>`, see the dispatcher). */
async function journalIdOf(idempotencyKey: string): Promise<string> {
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    const r = await c.query<{ id: string }>('SELECT id::text AS id FROM jenkins_coordination WHERE idempotency_key = $1::text', [idempotencyKey]);
    if (!r.rows[0]) throw new Error(`no journal row for idempotency key ${idempotencyKey}`);
    return r.rows[0].id;
  } finally {
    await c.end();
  }
}

describe('token comparison', () => {
  it('hashes the presented token and compares fixed-length sha256 digests with crypto.timingSafeEqual, visiting every entry', () => {
    const source = readFileSync(join(REPO_ROOT, 'agent/src/rpc/token-auth.ts'), 'utf8');
    expect(source).toMatch(/import \{[^}]*timingSafeEqual[^}]*\} from 'node:crypto'/);
    // No ordinary string or buffer equality on secrets.
    expect(source).not.toMatch(/===\s*e\.digest|digest\s*===|\.equals\(/);

    const entries = [
      { id: 'a', sha256: sha256Hex('a'.repeat(40)), teams: ['*'] },
      { id: 'b', sha256: sha256Hex('b'.repeat(40)), teams: ['x'] },
      { id: 'c', sha256: sha256Hex('c'.repeat(40)), teams: ['y'] },
    ];
    const auth = new TokenAuthenticator(entries);
    const spy = jest.mocked(crypto.timingSafeEqual);
    {
      // Tokens of very different lengths: the digests compared are always 32 bytes, so nothing leaks the length or throws.
      for (const presented of ['z'.repeat(16), 'z'.repeat(512), 'b'.repeat(40)]) {
        spy.mockClear();
        const r = auth.authenticate(`Bearer ${presented}`);
        expect(r.ok).toBe(presented === 'b'.repeat(40));
        expect(spy).toHaveBeenCalledTimes(entries.length); // no early exit on the first match
        for (const [x, y] of spy.mock.calls) {
          expect((x as Buffer).length).toBe(32);
          expect((y as Buffer).length).toBe(32);
        }
      }
    }
  });
});

describe('the tokens file', () => {
  it('is refused at start when others may read it: the sidecar exits non-zero with one line naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jsm-auth-'));
    try {
      const file = join(dir, 'tokens.yaml');
      writeTokensFile(file, [{ id: 'ops', teams: ['*'] }]);
      chmodSync(file, 0o644);
      const r = spawnSync(process.execPath, [join(REPO_ROOT, 'build/agent/src/bin/jenkins-sidecar.js')], {
        env: { PATH: process.env.PATH ?? '', HOME: dir, SIDECAR_LISTEN: '127.0.0.1:0', SIDECAR_DATABASE_URL: db.url, SIDECAR_DATA_DIR: join(dir, 'data'), SIDECAR_TOKENS_FILE: file, SIDECAR_INSTANCE_ID: 'auth-world-readable' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(file);
      expect(r.stderr).toMatch(/readable or writable by everyone/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

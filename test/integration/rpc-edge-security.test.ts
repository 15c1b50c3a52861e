import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startTestSidecar, tempDir, type InProcessSidecar } from '../support/sidecar-harness';
import { httpGet, RpcClient, type RpcMessage } from '../support/sidecar-process-rpc';

/**
 * What a caller holding one team's token must not reach through the RPC edge, against a real
 * in-process sidecar and PostgreSQL: another team's operation by its idempotency key, text the
 * database cannot store, unbounded `details`, operation names the audit would cut, an audit
 * page of unbounded size. Every refusal is -32602 (or a domain error) naming the field, and a
 * refused mutating call still leaves its FAILURE audit row.
 */
jest.setTimeout(90_000);

const QA = `qa-${randomBytes(3).toString('hex')}`;
const DEVOPS = `devops-${randomBytes(3).toString('hex')}`;

let db: TestDatabase;
let sc: InProcessSidecar;
let ops: RpcClient;
let qa: RpcClient;
let devops: RpcClient;

beforeAll(async () => {
  db = await createTestDatabase('edge');
  const dir = tempDir('jsm-edge-teams-');
  const teamsFile = join(dir, 'teams.yaml');
  const port = (): number => 20_000 + Math.floor(Math.random() * 20_000);
  writeFileSync(
    teamsFile,
    `jenkins_teams:\n  - team_name: ${QA}\n    web_port: ${port()}\n    agent_port: ${port() + 25_000}\n  - team_name: ${DEVOPS}\n    web_port: ${port()}\n    agent_port: ${port() + 25_000}\n`,
  );
  sc = await startTestSidecar({
    databaseUrl: db.url,
    tokens: [
      { id: 'ops', teams: ['*'] },
      { id: 'qa-ci', teams: [QA] },
      { id: 'devops-ci', teams: [DEVOPS] },
    ],
    env: { SIDECAR_TEAMS_FILE: teamsFile },
  });
  const url = sc.handle.rpcUrl;
  [ops, qa, devops] = await Promise.all([RpcClient.connect(url, sc.secrets['ops']!), RpcClient.connect(url, sc.secrets['qa-ci']!), RpcClient.connect(url, sc.secrets['devops-ci']!)]);
});

afterAll(async () => {
  await Promise.all([ops?.close(), qa?.close(), devops?.close()]);
  await sc?.stop();
  await db?.drop();
});

const auditOf = async (team: string | null, method: string) =>
  (await sc.handle.store.audit.list({ ...(team ? { team } : {}), operationType: method, limit: 1000 })).filter((e) => team !== null || e.team === null);

function expectInvalidField(m: RpcMessage, field: string | RegExp): void {
  expect(m.error?.code).toBe(-32602);
  const fields = ((m.error?.data?.issues ?? []) as Array<{ field: string }>).map((i) => i.field);
  expect(fields.some((f) => (typeof field === 'string' ? f === field : field.test(f)))).toBe(true);
}

describe('idempotency keys belong to their team', () => {
  it("another team's token with the same key gets its own operation, not the other team's result (fencing token included)", async () => {
    const key = `job/${randomBytes(4).toString('hex')}#1:acquire:1`;
    const mine = await devops.call('lock.acquire', { team: DEVOPS, operation: 'switch', ttlSec: 60, idempotencyKey: key });
    expect(mine.result).toMatchObject({ lockName: `${DEVOPS}:switch` });
    const theirs = await qa.call('lock.acquire', { team: QA, operation: 'switch', ttlSec: 60, idempotencyKey: key });
    expect(theirs.result).toMatchObject({ lockName: `${QA}:switch` });
    expect((theirs.result as { token: number }).token).not.toBe((mine.result as { token: number }).token);
    // The same team's retry (and the ops token, allowed on the team) re-attaches to the same operation.
    const retry = await devops.call('lock.acquire', { team: DEVOPS, operation: 'switch', ttlSec: 60, idempotencyKey: key });
    expect(retry.result).toEqual(mine.result);
    const byOps = await ops.call('lock.acquire', { team: DEVOPS, operation: 'switch', ttlSec: 60, idempotencyKey: key });
    expect(byOps.result).toEqual(mine.result);
    // Each audit row names its own team's operation.
    const [d] = (await auditOf(DEVOPS, 'lock.acquire')).filter((e) => e.metadata?.idempotencyKey === key && e.actor?.tokenId === 'devops-ci');
    const [q] = (await auditOf(QA, 'lock.acquire')).filter((e) => e.metadata?.idempotencyKey === key);
    expect(d?.operationId).toBeTruthy();
    expect(q?.operationId).toBeTruthy();
    expect(q!.operationId).not.toBe(d!.operationId);
  });

  it("a key squatted by another team does not hand its lock to the build that uses the key", async () => {
    const key = `${DEVOPS}/Infrastructure/Switch#${Math.floor(Math.random() * 1e6)}:acquireInfrastructureLock:1`;
    const squat = await qa.call('lock.acquire', { team: QA, operation: 'squat', ttlSec: 60, idempotencyKey: key });
    expect(squat.result).toMatchObject({ lockName: `${QA}:squat` });
    const build = await devops.call('lock.acquire', { team: DEVOPS, operation: 'blue_green_switch', ttlSec: 60, idempotencyKey: key });
    expect(build.result).toMatchObject({ lockName: `${DEVOPS}:blue_green_switch` });
    const held = await devops.call('lock.list', { team: DEVOPS });
    expect((held.result as { locks: Array<{ lockName: string; token: number }> }).locks).toContainEqual(
      expect.objectContaining({ lockName: `${DEVOPS}:blue_green_switch`, token: (build.result as { token: number }).token }),
    );
  });

  it('the same key for another method of the same team is CONFLICT with the reason, and audited', async () => {
    const key = `k-${randomBytes(4).toString('hex')}`;
    expect((await devops.call('lock.acquire', { team: DEVOPS, operation: 'other', ttlSec: 60, idempotencyKey: key })).result).toBeDefined();
    const clash = await devops.call('coordination.update', { team: DEVOPS, operation: 'stage', idempotencyKey: key });
    expect(clash.error).toMatchObject({ code: -32000, data: { code: 'CONFLICT', reason: 'idempotency_key_reused' } });
    expect(clash.error?.message).toMatch(/already belongs to operation .*lock\.acquire/);
    const rows = (await auditOf(DEVOPS, 'stage')).concat(await auditOf(DEVOPS, 'coordination.update'));
    expect(rows.some((r) => r.status === 'FAILURE' && r.metadata?.idempotencyKey === key)).toBe(true);
  });
});

describe('text PostgreSQL cannot store is refused at the edge, naming the field, and audited', () => {
  const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
  const cases: Array<{ what: string; frame: (id: string) => string; field: string | RegExp }> = [
    { what: 'NUL in a details value', frame: (id) => JSON.stringify({ jsonrpc: '2.0', id, method: 'coordination.update', params: { team: QA, operation: 'nul_value', details: { text: 'a\u0000b' } } }), field: 'details.text' },
    { what: 'NUL in a details key', frame: (id) => JSON.stringify({ jsonrpc: '2.0', id, method: 'coordination.update', params: { team: QA, operation: 'nul_key', details: { 'a\u0000b': 1 } } }), field: 'details.a\\u0000b' },
    { what: 'lone surrogate in owner', frame: (id) => `{"jsonrpc":"2.0","id":"${id}","method":"lock.acquire","params":{"team":"${QA}","operation":"surrogate","owner":"x\\ud800"}}`, field: 'owner' },
    { what: 'lone surrogate in build', frame: (id) => `{"jsonrpc":"2.0","id":"${id}","method":"lock.acquire","params":{"team":"${QA}","operation":"surrogate","build":"job\\udc00#1"}}`, field: 'build' },
    { what: '200,000-deep array in details', frame: (id) => `{"jsonrpc":"2.0","id":"${id}","method":"coordination.update","params":{"team":"${QA}","operation":"deep","details":{"x":${deep(200_000)}}}}`, field: /^details\.x(\[0\])+$/ },
  ];
  it.each(cases)('$what', async ({ frame, field }) => {
    const before = (await auditOf(QA, 'coordination.update')).length + (await auditOf(QA, 'lock.acquire')).length;
    const id = `u-${randomBytes(3).toString('hex')}`;
    const answer = await qa.sendAndWait(frame(id), id);
    expectInvalidField(answer, field);
    const after = [...(await auditOf(QA, 'coordination.update')), ...(await auditOf(QA, 'lock.acquire'))];
    expect(after.length).toBe(before + 1);
    expect(after.find((r) => r.metadata?.refused === true && (r.metadata?.error as { code: string }).code === 'INVALID_PARAMS')).toBeDefined();
  });
});

describe('bounds', () => {
  it('coordination.update takes operation names the audit keeps whole (at most 50 characters)', async () => {
    const long = `deploy_${'x'.repeat(50)}`;
    expectInvalidField(await qa.call('coordination.update', { team: QA, operation: long }), 'operation');
    expectInvalidField(await qa.call('consensus.request', { team: QA, operation: long }), 'operation');
    const fits = await qa.call('coordination.update', { team: QA, operation: 'y'.repeat(50) });
    expect(fits.result).toMatchObject({ recorded: true });
    expect((await auditOf(QA, 'y'.repeat(50))).length).toBe(1);
  });

  it('details is bounded in size, depth and key charset', async () => {
    expectInvalidField(await qa.call('coordination.update', { team: QA, operation: 'big', details: { text: 'x'.repeat(20_000) } }), 'details');
    let nested: unknown = 1;
    for (let i = 0; i < 12; i++) nested = { n: nested };
    expectInvalidField(await qa.call('coordination.update', { team: QA, operation: 'nested', details: { n: nested } }), 'details');
    expectInvalidField(await qa.call('coordination.update', { team: QA, operation: 'keys', details: { 'bad key\n': 1 } }), /^details/);
    expect((await qa.call('coordination.update', { team: QA, operation: 'ok', details: { text: 'x'.repeat(10_000), stage: 'Deploy' } })).result).toMatchObject({ recorded: true });
  });

  it('an audit page is bounded in bytes, and says when it was cut', async () => {
    const team = DEVOPS;
    for (let i = 0; i < 80; i++) {
      const r = await devops.call('coordination.update', { team, operation: 'bulk', details: { text: 'z'.repeat(15_000) } });
      expect(r.result).toMatchObject({ recorded: true });
    }
    const page = await httpGet(`${sc.handle.httpUrl}/api/v1/audit?team=${team}&limit=1000`, { Authorization: `Bearer ${sc.secrets['ops']}` });
    expect(page.status).toBe(200);
    expect(Buffer.byteLength(page.body)).toBeLessThanOrEqual(1024 * 1024 + 4096);
    const body = JSON.parse(page.body) as { audit: unknown[]; truncated?: boolean };
    expect(body.truncated).toBe(true);
    expect(body.audit.length).toBeGreaterThan(10);
  });
});

describe('scope of team tokens and of the teams file', () => {
  it('the global leadership lease needs the ops token; a team token keeps to its team scope', async () => {
    const global = await qa.call('leadership.establish', {});
    expect(global.error).toMatchObject({ code: -32000, data: { code: 'FORBIDDEN' } });
    expect(global.error?.message).toContain('global');
    expect((await qa.call('leadership.establish', { team: QA })).result).toMatchObject({ scope: `team:${QA}` });
    expect((await ops.call('leadership.establish', {})).result).toMatchObject({ scope: 'global' });
  });

  it('coordination.update records only teams of the teams file', async () => {
    const ghost = await ops.call('coordination.update', { team: 'ghost-team', operation: 'deploy' });
    expect(ghost.error).toMatchObject({ code: -32000, data: { code: 'NOT_FOUND' } });
    expect((await auditOf('ghost-team', 'deploy')).length).toBe(0);
  });
});

describe('the HTTP listener answers only for its own host names (DNS rebinding)', () => {
  it('refuses a foreign Host header on /metrics and the read API, and serves loopback names', async () => {
    const port = new URL(sc.handle.httpUrl).port;
    for (const path of ['/metrics', '/api/v1/teams', '/healthz']) {
      const foreign = await httpGet(`${sc.handle.httpUrl}${path}`, { Host: `rebind.attacker.example:${port}`, Authorization: `Bearer ${sc.secrets['ops']}` });
      expect(foreign.status).toBe(421);
      expect(foreign.body).not.toContain(QA);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      expect((await httpGet(`${sc.handle.httpUrl}/metrics`, { Host: host })).status).toBe(200);
    }
  });
});

import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { eventually } from '../support/eventually';
import { httpGet, RpcClient, type RpcMessage } from '../support/sidecar-process-rpc';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';

/**
 * Hostile input against a real sidecar's RPC endpoint: malformed JSON, wrong
 * envelopes, wrong types, unknown fields, deep nesting, very long strings,
 * unicode look-alikes and injection attempts into every name-like parameter of
 * every method the sidecar serves (names reach SQL, HAProxy Runtime API lines,
 * container names and file paths). Bounded to 20 s of sending. Asserts: every
 * frame gets a proper JSON-RPC error (or, for broken frames, the socket is
 * closed with the right code), the process stays up, and the database is
 * exactly as it was but for one FAILURE audit row per refused call of a
 * mutating method. A last case sends the classes that must be answered AND
 * audited — cross-team idempotency keys, unstorable text, depth and size
 * bounds — plus the per-token live-stream cap, and prints how many of each.
 */
jest.setTimeout(60_000);

const TEAM = `fz-${randomBytes(3).toString('hex')}`;
const TEAM2 = `fy-${randomBytes(3).toString('hex')}`;
const FUZZ_BUDGET_MS = 20_000;

let db: TestDatabase;
let sc: SidecarProcess;
let ops: RpcClient;

beforeAll(async () => {
  db = await createTestDatabase('fuzz');
  sc = await startSidecarProcess({
    databaseUrl: db.url,
    tokens: [
      { id: 'ops', teams: ['*'] },
      { id: 'team-ci', teams: [TEAM] },
      { id: 'team2-ci', teams: [TEAM2] },
    ],
    teamsYaml:
      `jenkins_teams:\n  - team_name: ${TEAM}\n    web_port: ${20_000 + Math.floor(Math.random() * 10_000)}\n    agent_port: ${45_000 + Math.floor(Math.random() * 5_000)}\n` +
      `  - team_name: ${TEAM2}\n    web_port: ${30_000 + Math.floor(Math.random() * 10_000)}\n    agent_port: ${50_000 + Math.floor(Math.random() * 5_000)}\n`,
  });
  ops = await RpcClient.connect(sc.rpcUrl, sc.secrets['ops']!);
  // Let the sidecar's own first writes (team state, heartbeat) settle before the snapshot.
  await ops.call('environment.status', { team: TEAM });
});

afterAll(async () => {
  await ops?.close();
  await sc?.stop();
  await db?.drop();
});

/* ---------- the database, table by table ---------- */

/** Columns that change on their own (heartbeats), not because of a call. */
const VOLATILE: Record<string, string[]> = { participants: ['last_heartbeat', 'health_score', 'details'] };

async function snapshot(): Promise<Record<string, string[]>> {
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    const tables = await c.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1");
    const out: Record<string, string[]> = {};
    for (const { table_name } of tables.rows) {
      const rows = await c.query<{ row: Record<string, unknown> }>(`SELECT to_jsonb(t) AS row FROM ${escapeIdentifier(table_name)} t`);
      out[table_name] = rows.rows
        .map(({ row }) => {
          for (const col of VOLATILE[table_name] ?? []) delete row[col];
          return JSON.stringify(row);
        })
        .sort();
    }
    const seq = await c.query<{ last_value: string }>('SELECT last_value::text FROM fencing_token_seq');
    out['(fencing_token_seq)'] = [seq.rows[0]!.last_value];
    return out;
  } finally {
    await c.end();
  }
}

/* ---------- what a proper error answer is ---------- */

function expectProperError(m: RpcMessage, code: number | number[], id: string | number | null, what: string): void {
  const codes = Array.isArray(code) ? code : [code];
  const problem =
    m.jsonrpc !== '2.0'
      ? 'jsonrpc is not "2.0"'
      : 'result' in m
        ? `has a result: ${JSON.stringify(m.result).slice(0, 200)}`
        : !m.error
          ? 'no error'
          : !codes.includes(m.error.code)
            ? `code ${m.error.code}, expected ${codes.join(' or ')}: ${m.error.message}`
            : m.id !== id
              ? `id ${JSON.stringify(m.id)}, expected ${JSON.stringify(id)}`
              : typeof m.error.message !== 'string' || m.error.message.length === 0
                ? 'empty message'
                : /\n\s+at |node_modules|\.ts:\d+/.test(m.error.message)
                  ? `internals leak into the message: ${m.error.message.slice(0, 200)}`
                  : null;
  if (problem) throw new Error(`${what}: ${problem}`);
}

/* ---------- per-method mutations from the served catalog ---------- */

interface JsonSchema {
  type?: string | string[];
  pattern?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
}

/** Params that pass validation for each known method: a mutation of ONE field is then refused because of that field. */
const VALID_BASE: Record<string, Record<string, unknown>> = {
  'lock.acquire': { team: TEAM, operation: 'fuzz_op', ttlSec: 60 },
  'lock.release': { team: TEAM, operation: 'fuzz_op' },
  'lock.renew': { team: TEAM, operation: 'fuzz_op', token: 1 },
  'lock.list': { team: TEAM },
  'leadership.establish': { team: TEAM },
  'consensus.request': { team: TEAM, operation: 'fuzz_op' },
  'environment.status': { team: TEAM },
  'coordination.update': { team: TEAM, operation: 'fuzz_op', status: 'SUCCESS' },
  'operation.get': { operationId: 'fuzz-op' },
  'operation.attach': { operationId: 'fuzz-op' },
  'breaker.status': { team: TEAM },
  'traffic.switch': { team: TEAM, target: 'green', lockToken: 1 },
  'traffic.status': { team: TEAM },
  'rollback.emergency': { team: TEAM, reason: 'fuzz' },
  'environment.deploy': { team: TEAM, target: 'green' },
  'environment.stop': { team: TEAM, environment: 'green' },
  'environment.validate': { team: TEAM, environment: 'green' },
  'environment.quietDown': { team: TEAM, environment: 'green', cancel: true },
  'state.migrate': { team: TEAM, source: 'blue', target: 'green' },
  'backup.create': { team: TEAM },
  'backup.list': { team: TEAM },
  'backup.restore': { team: TEAM, backupId: 'fuzz', environment: 'green' },
  'coordination.execute': { team: TEAM, operation: 'version_upgrade' },
};

/** Strings aimed at SQL, the HAProxy Runtime API (several commands per line), shells, paths, Docker names, logs and look-alike unicode. */
const HOSTILE_STRINGS = [
  "x'; DROP TABLE coordination_locks; --",
  "' OR '1'='1",
  'x$1::text',
  'devops\nset server jenkins_backend_devops/devops-blue weight 0',
  'devops;shutdown sessions',
  'devops disable server jenkins_backend_devops/devops-green',
  'devops\r\nshow stat',
  '../../../etc/passwd',
  '/var/lib/jenkins',
  '..',
  '$(touch /tmp/jsm-fuzz-pwned)',
  '`id`',
  'devops && rm -rf /',
  'jenkins-devops-blue --privileged',
  'a\u0000b',
  '%0Ashow%20stat',
  'dеvops', // Cyrillic е
  'devops\u200b', // zero-width space
  'devops\u202egnp', // right-to-left override
  '\ud800', // lone surrogate
  '🦊',
  '',
  ' ',
  'A'.repeat(10_000),
  '{{constructor.constructor("return process")()}}',
  '${jndi:ldap://127.0.0.1/x}',
];

function acceptsNull(s: JsonSchema): boolean {
  return (Array.isArray(s.type) && s.type.includes('null')) || !!s.anyOf?.some((a) => a.type === 'null');
}

function typeOf(s: JsonSchema): string | undefined {
  if (typeof s.type === 'string') return s.type;
  if (Array.isArray(s.type)) return s.type.find((t) => t !== 'null');
  return s.anyOf?.map(typeOf).find((t) => t && t !== 'null');
}

function patternOf(s: JsonSchema): RegExp | null {
  const p = s.pattern ?? s.anyOf?.find((a) => a.pattern)?.pattern;
  return p ? new RegExp(p, 'u') : null;
}

/** Values that must be refused for a parameter with schema `s`. */
function badValues(s: JsonSchema): unknown[] {
  const t = typeOf(s);
  const out: unknown[] = [];
  const wrongTypes: Record<string, unknown[]> = {
    string: [12345, true, {}, [], { $ne: '' }],
    integer: ['60', true, {}, [], 1.5, 1e308, -1e308, '1; DROP TABLE x'],
    number: ['60', true, {}, []],
    boolean: ['true', 1, {}, []],
    object: ['x', 1, true, [1, 2]],
    array: ['x', 1, true, { 0: 'a' }],
  };
  out.push(...(wrongTypes[t ?? ''] ?? []));
  if (!acceptsNull(s) && t) out.push(null);
  if (t === 'integer' || t === 'number') {
    if (typeof s.minimum === 'number') out.push(s.minimum - 1);
    if (typeof s.maximum === 'number') out.push(s.maximum + 1);
  }
  if (t === 'string') {
    const re = patternOf(s);
    const en = s.enum ?? s.anyOf?.find((a) => a.enum)?.enum;
    if (re || en) out.push(...HOSTILE_STRINGS.filter((v) => !(re?.test(v) ?? false) && !(en?.includes(v) ?? false)));
    if (typeof s.maxLength === 'number') out.push('A'.repeat(s.maxLength + 1));
  }
  return out;
}

interface FuzzCase {
  what: string;
  frame: string;
  expectCode: number | number[];
  expectId: string | number | null;
}

function methodCases(name: string, schema: JsonSchema): FuzzCase[] {
  const base = VALID_BASE[name];
  const cases: FuzzCase[] = [];
  let n = 0;
  const mk = (what: string, params: unknown): FuzzCase => {
    const id = `${name}#${++n}`;
    return { what: `${name} ${what}`, frame: JSON.stringify({ jsonrpc: '2.0', id, method: name, params }), expectCode: -32602, expectId: id };
  };
  const valid = base ?? {};
  cases.push(mk('unknown field', { ...valid, fuzzExtra: 1 }));
  // Own "__proto__" / "constructor" keys, as JSON.parse creates them.
  const protoFrame = `{"jsonrpc":"2.0","id":"${name}#proto","method":"${name}","params":${JSON.stringify(valid).replace(/^\{/, '{"__proto__":{"isOps":true},')}}`.replace(',}', '}');
  cases.push({ what: `${name} __proto__ key`, frame: protoFrame, expectCode: -32602, expectId: `${name}#proto` });
  cases.push(mk('constructor key', { ...valid, constructor: { prototype: { admin: true } } }));
  for (const [prop, ps] of Object.entries(schema.properties ?? {})) {
    for (const bad of badValues(ps)) cases.push(mk(`${prop}=${JSON.stringify(bad).slice(0, 60)}`, { ...valid, [prop]: bad }));
  }
  return cases;
}

/** Frames that break the envelope itself. */
function envelopeCases(): FuzzCase[] {
  const deep = 100_000;
  const deepObject = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
  return [
    { what: 'empty frame', frame: '', expectCode: -32700, expectId: null },
    { what: 'truncated JSON', frame: '{"jsonrpc":"2.0","id":1,"method":"lock.acq', expectCode: -32700, expectId: null },
    { what: 'trailing garbage', frame: '{"jsonrpc":"2.0","id":1,"method":"rpc.discover"} x', expectCode: -32700, expectId: null },
    { what: 'single quotes', frame: "{'jsonrpc':'2.0'}", expectCode: -32700, expectId: null },
    { what: 'NaN literal', frame: '{"jsonrpc":"2.0","id":1,"method":"lock.list","params":{"team":NaN}}', expectCode: -32700, expectId: null },
    { what: 'null', frame: 'null', expectCode: -32600, expectId: null },
    { what: 'number', frame: '42', expectCode: -32600, expectId: null },
    { what: 'string', frame: '"lock.acquire"', expectCode: -32600, expectId: null },
    { what: 'empty batch', frame: '[]', expectCode: -32600, expectId: null },
    { what: 'batch', frame: '[{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}]', expectCode: -32600, expectId: null },
    { what: 'jsonrpc 1.0', frame: '{"jsonrpc":"1.0","id":"e1","method":"rpc.discover"}', expectCode: -32600, expectId: 'e1' },
    { what: 'no jsonrpc', frame: '{"id":"e2","method":"rpc.discover"}', expectCode: -32600, expectId: 'e2' },
    { what: 'object id', frame: '{"jsonrpc":"2.0","id":{"a":1},"method":"rpc.discover"}', expectCode: -32600, expectId: null },
    { what: 'array id', frame: '{"jsonrpc":"2.0","id":[1],"method":"rpc.discover"}', expectCode: -32600, expectId: null },
    { what: 'boolean id', frame: '{"jsonrpc":"2.0","id":true,"method":"rpc.discover"}', expectCode: -32600, expectId: null },
    { what: 'numeric method', frame: '{"jsonrpc":"2.0","id":"e3","method":123}', expectCode: -32600, expectId: 'e3' },
    { what: 'missing method', frame: '{"jsonrpc":"2.0","id":"e4"}', expectCode: -32600, expectId: 'e4' },
    { what: 'empty method', frame: '{"jsonrpc":"2.0","id":"e5","method":""}', expectCode: -32600, expectId: 'e5' },
    { what: 'long method', frame: JSON.stringify({ jsonrpc: '2.0', id: 'e6', method: `a.${'b'.repeat(5_000)}` }), expectCode: -32600, expectId: 'e6' },
    { what: 'method with SQL', frame: JSON.stringify({ jsonrpc: '2.0', id: 'e7', method: "lock.acquire'; DROP TABLE x; --" }), expectCode: -32600, expectId: 'e7' },
    { what: 'method look-alike', frame: JSON.stringify({ jsonrpc: '2.0', id: 'e8', method: 'lock.acquіre' }), expectCode: -32600, expectId: 'e8' },
    ...['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf', 'lock', 'lock.acquire.x', 'rpc.discover.constructor'].map((m, i) => ({
      what: `method ${m}`,
      frame: JSON.stringify({ jsonrpc: '2.0', id: `m${i}`, method: m }),
      expectCode: [-32601, -32600],
      expectId: `m${i}`,
    })),
    { what: 'params array', frame: '{"jsonrpc":"2.0","id":"p1","method":"lock.list","params":["x"]}', expectCode: -32602, expectId: 'p1' },
    { what: 'params string', frame: '{"jsonrpc":"2.0","id":"p2","method":"lock.list","params":"team=x"}', expectCode: -32602, expectId: 'p2' },
    { what: 'params null', frame: '{"jsonrpc":"2.0","id":"p3","method":"lock.list","params":null}', expectCode: -32602, expectId: 'p3' },
    { what: 'duplicate method key (last wins)', frame: `{"jsonrpc":"2.0","id":"p4","method":"rpc.discover","method":"lock.acquire"}`, expectCode: -32602, expectId: 'p4' },
    { what: 'deep array nesting', frame: `${'['.repeat(deep)}${']'.repeat(deep)}`, expectCode: [-32700, -32600], expectId: null },
    { what: 'deep object in params', frame: `{"jsonrpc":"2.0","id":"p5","method":"coordination.update","params":{"team":"NOT A TEAM","operation":"x","details":${deepObject}}}`, expectCode: -32602, expectId: 'p5' },
    { what: 'deep object as team', frame: `{"jsonrpc":"2.0","id":"p6","method":"lock.acquire","params":{"team":${deepObject},"operation":"x"}}`, expectCode: -32602, expectId: 'p6' },
    { what: 'near-limit owner string', frame: JSON.stringify({ jsonrpc: '2.0', id: 'p7', method: 'lock.acquire', params: { team: TEAM, operation: 'x', owner: 'A'.repeat(900_000) } }), expectCode: -32602, expectId: 'p7' },
    { what: 'huge ttl', frame: `{"jsonrpc":"2.0","id":"p8","method":"lock.acquire","params":{"team":"${TEAM}","operation":"x","ttlSec":1e400}}`, expectCode: -32602, expectId: 'p8' },
    { what: 'unsafe integer token', frame: `{"jsonrpc":"2.0","id":"p9","method":"lock.renew","params":{"team":"${TEAM}","operation":"x","token":9007199254740993}}`, expectCode: [-32602, -32000], expectId: 'p9' },
    { what: 'idempotencyKey with SQL', frame: JSON.stringify({ jsonrpc: '2.0', id: 'k1', method: 'lock.acquire', params: { team: TEAM, operation: 'x', idempotencyKey: "k'; DROP TABLE idempotency_keys; --" } }), expectCode: -32602, expectId: 'k1' },
    { what: 'idempotencyKey too long', frame: JSON.stringify({ jsonrpc: '2.0', id: 'k2', method: 'lock.acquire', params: { team: TEAM, operation: 'x', idempotencyKey: 'k'.repeat(201) } }), expectCode: -32602, expectId: 'k2' },
    { what: 'build with newline', frame: JSON.stringify({ jsonrpc: '2.0', id: 'k3', method: 'lock.acquire', params: { team: TEAM, operation: 'x', build: 'job\nfake log line#1' } }), expectCode: -32602, expectId: 'k3' },
    { what: 'build as object', frame: JSON.stringify({ jsonrpc: '2.0', id: 'k4', method: 'lock.acquire', params: { team: TEAM, operation: 'x', build: { a: 1 } } }), expectCode: -32602, expectId: 'k4' },
  ];
}

/** Whether the sidecar's dispatcher sees this frame as a call of a mutating method (and so audits its refusal). */
function reachesMutatingMethod(frame: string, mutating: ReadonlySet<string>): boolean {
  let m: unknown;
  try {
    m = JSON.parse(frame);
  } catch {
    return false;
  }
  if (!m || typeof m !== 'object' || Array.isArray(m)) return false;
  const { jsonrpc, id, method, params } = m as Record<string, unknown>;
  const idOk = id === undefined || id === null || typeof id === 'string' || typeof id === 'number';
  const paramsOk = params === undefined || (params !== null && typeof params === 'object' && !Array.isArray(params));
  return jsonrpc === '2.0' && idOk && typeof method === 'string' && mutating.has(method) && paramsOk;
}

it('answers every hostile frame with a proper JSON-RPC error, stays up and changes nothing in the database', async () => {
  const discovered = await ops.call('rpc.discover', {});
  const methods = (discovered.result as { methods: Array<{ name: string; params: JsonSchema }> }).methods;
  expect(methods.length).toBeGreaterThan(5);

  const before = await snapshot();
  // Round-robin over methods, so that if the time budget ever cuts the run short every method was still covered.
  const perMethod = methods.map((m) => methodCases(m.name, m.params));
  const longest = Math.max(...perMethod.map((l) => l.length));
  const interleaved = Array.from({ length: longest }, (_, i) => perMethod.map((l) => l[i]).filter((c): c is FuzzCase => !!c)).flat();
  const cases = [...envelopeCases(), ...interleaved];
  const mustSend = envelopeCases().length + perMethod.reduce((n, l) => n + Math.min(l.length, 10), 0);
  const deadline = Date.now() + FUZZ_BUDGET_MS;
  let sent = 0;
  for (const c of cases) {
    if (Date.now() > deadline) break;
    const answer = await ops.sendAndWait(c.frame, c.expectId, 10_000);
    expectProperError(answer, c.expectCode, c.expectId, c.what);
    sent++;
  }
  // The budget (20 s) normally covers every case (≈ 2,000 frames take 1–4 s here); at the very least
  // the envelope cases and ten cases of every method must have gone out.
  expect(sent).toBeGreaterThanOrEqual(mustSend);
  process.stderr.write(`fuzz: ${sent} of ${cases.length} frames over ${methods.length} methods (${methods.map((m) => m.name).join(', ')})\n`);
  expect(ops.unmatched).toEqual([]);

  // A team token gets the same treatment (its scope check comes after validation).
  const team = await RpcClient.connect(sc.rpcUrl, sc.secrets['team-ci']!);
  const teamCases = methodCases('lock.acquire', methods.find((m) => m.name === 'lock.acquire')!.params).slice(0, 40);
  try {
    for (const c of teamCases) {
      expectProperError(await team.sendAndWait(c.frame, c.expectId), c.expectCode, c.expectId, `team token: ${c.what}`);
    }
  } finally {
    await team.close();
  }

  // Notifications (no id) with bad params get no answer and break nothing.
  const notification = JSON.stringify({ jsonrpc: '2.0', method: 'lock.acquire', params: { team: "x'; DROP TABLE coordination_locks; --" } });
  ops.ws.send(notification);
  // Its refusal is audited too (frames on one socket are answered concurrently: wait for its row below).

  // Nothing changed but the audit trail, which gained one FAILURE row per refused call of a mutating method.
  const mutating = new Set(methods.filter((m) => (m as { mutating?: boolean }).mutating).map((m) => m.name));
  const expectAudited = [...cases.slice(0, sent), ...teamCases, { frame: notification }].filter((c) => reachesMutatingMethod(c.frame, mutating)).length;
  const { deployment_audit: auditBefore = [], ...restBefore } = before;
  const after = await eventually(
    'the audit row of every refused call',
    async () => {
      const s = await snapshot();
      return (s['deployment_audit'] ?? []).length - auditBefore.length >= expectAudited ? s : null;
    },
    30_000,
  );
  const { deployment_audit: auditAfter = [], ...restAfter } = after;
  expect(restAfter).toEqual(restBefore);
  const added = auditAfter.filter((r) => !auditBefore.includes(r)).map((r) => JSON.parse(r) as { status: string; operation_type: string });
  expect(added.every((a) => a.status === 'FAILURE')).toBe(true);
  expect(added.length).toBe(expectAudited);
  process.stderr.write(`fuzz: ${added.length} refused calls of mutating methods, each with its FAILURE audit row\n`);
  expect(sc.exited()).toBe(false);
  expect((await httpGet(`${sc.httpUrl}/healthz`)).status).toBe(200);
  const still = await ops.call('lock.list', { team: TEAM });
  expect(still.result).toEqual({ locks: [] });
});

it('closes a text frame that is not UTF-8 (1007) and answers a binary frame of garbage with a parse error', async () => {
  const c = await RpcClient.connect(sc.rpcUrl, sc.secrets['ops']!);
  const bin = await c.sendAndWait('', null).catch(() => null); // warm-up: empty text frame is a parse error
  expect(bin?.error?.code).toBe(-32700);
  const parse = new Promise<RpcMessage>((ok) => c.ws.once('message', (d) => ok(JSON.parse(d.toString()) as RpcMessage)));
  c.ws.send(Buffer.from([0xff, 0xfe, 0x00, 0x7b]), { binary: true });
  expectProperError(await parse, -32700, null, 'binary garbage');

  const closed = new Promise<number>((ok) => c.ws.once('close', (code) => ok(code)));
  c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([closed, new Promise<number>((_, fail) => (timer = setTimeout(() => fail(new Error('not closed within 10 s')), 10_000)))]);
  clearTimeout(timer);
  expect(code).toBe(1007);
  expect(sc.exited()).toBe(false);
  expect((await ops.call('rpc.discover', {})).result).toBeDefined();
});

it('refuses well-formed calls it must not act on (unknown team, stale fencing token) without changing state; free text reaches SQL only as a parameter', async () => {
  const stateTables = ['coordination_locks', 'jenkins_coordination', 'idempotency_keys', 'team_environment', 'environment_state', 'leadership_leases', 'consensus_proposals', 'consensus_votes', 'circuit_breakers'];
  const before = await snapshot();
  const unknown = await ops.call('lock.acquire', { team: 'zz-unknown', operation: 'x' });
  expect(unknown.error).toMatchObject({ code: -32000, data: { code: 'NOT_FOUND' } });
  const lead = await ops.call('leadership.establish', { team: 'zz-unknown' });
  expect(lead.error).toMatchObject({ data: { code: 'NOT_FOUND' } });
  const stale = await ops.call('lock.renew', { team: TEAM, operation: 'fuzz_op', token: 999_999 });
  expect(stale.error).toMatchObject({ data: { code: 'FENCED' } });
  const missing = await ops.call('operation.get', { operationId: 'does-not-exist' });
  expect(missing.error).toMatchObject({ data: { code: 'NOT_FOUND' } });
  const after = await snapshot();
  for (const t of stateTables) if (t in before) expect(after[t]).toEqual(before[t]);
  // Refused mutating calls may be audited, but only as failures.
  const newAudit = (after['deployment_audit'] ?? []).filter((r) => !(before['deployment_audit'] ?? []).includes(r)).map((r) => JSON.parse(r) as { status: string });
  for (const a of newAudit) expect(a.status).toBe('FAILURE');

  // The owner is free text: stored verbatim, never executed.
  const owner = "x'); DROP TABLE coordination_locks; --";
  const got = await ops.call('lock.acquire', { team: TEAM, operation: 'free_text', ttlSec: 30, owner });
  expect(got.result).toMatchObject({ holder: owner });
  const listed = await ops.call('lock.list', { team: TEAM });
  expect((listed.result as { locks: Array<{ holder: string }> }).locks.map((l) => l.holder)).toEqual([owner]);
  const released = await ops.call('lock.release', { team: TEAM, operation: 'free_text', owner });
  expect(released.result).toEqual({ released: true });
});

/* ---------- classes that must be answered AND leave their audit row ---------- */

async function auditRows(sql: string, params: unknown[]): Promise<Array<{ status: string; operation_id: string | null; token_id: string }>> {
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

const refusedRows = async (): Promise<number> =>
  (await auditRows("SELECT status, operation_id, token_id FROM deployment_audit WHERE audit_metadata->>'refused' = 'true'", [])).length;

function expectFieldRefusal(m: RpcMessage, id: string, field: RegExp, what: string): void {
  expectProperError(m, -32602, id, what);
  const fields = ((m.error?.data?.issues ?? []) as Array<{ field: string }>).map((i) => i.field);
  if (!fields.some((f) => field.test(f))) throw new Error(`${what}: refusal names ${fields.join(', ') || 'no field'}, expected ${field}`);
}

it('cross-team keys, unstorable text, depth and size bounds, per-token stream caps: every frame answered, every call audited', async () => {
  const team = await RpcClient.connect(sc.rpcUrl, sc.secrets['team-ci']!);
  const team2 = await RpcClient.connect(sc.rpcUrl, sc.secrets['team2-ci']!);
  const counts: Record<string, { sent: number; answered: number; audited: number | string }> = {};
  try {
    // 1. Cross-team idempotency keys: the same key from two teams is two operations; the other team's own team is FORBIDDEN.
    const crossKeys = Array.from({ length: 15 }, (_, i) => `${TEAM}/Infrastructure/Switch#${i}:acquireInfrastructureLock:1`);
    let answered = 0;
    for (const [i, key] of crossKeys.entries()) {
      const mine = await team.call('lock.acquire', { team: TEAM, operation: `xk${i}`, ttlSec: 30, idempotencyKey: key });
      const theirs = await team2.call('lock.acquire', { team: TEAM2, operation: `xk${i}`, ttlSec: 30, idempotencyKey: key });
      const steal = await team2.call('lock.acquire', { team: TEAM, operation: `xk${i}`, ttlSec: 30, idempotencyKey: key });
      expect(mine.result).toMatchObject({ lockName: `${TEAM}:xk${i}` });
      expect(theirs.result).toMatchObject({ lockName: `${TEAM2}:xk${i}` });
      expect(steal.error).toMatchObject({ code: -32000, data: { code: 'FORBIDDEN' } });
      answered += 3;
      await team.call('lock.release', { team: TEAM, operation: `xk${i}` });
      await team2.call('lock.release', { team: TEAM2, operation: `xk${i}` });
    }
    let audited = 0;
    for (const key of crossKeys) {
      const rows = await auditRows("SELECT status, operation_id, token_id FROM deployment_audit WHERE operation_type = 'lock.acquire' AND audit_metadata->>'idempotencyKey' = $1::text", [key]);
      const ok = rows.filter((r) => r.status === 'SUCCESS');
      expect(ok).toHaveLength(2);
      expect(new Set(ok.map((r) => r.operation_id)).size).toBe(2);
      expect(rows.filter((r) => r.status === 'FAILURE' && r.token_id === 'team2-ci')).toHaveLength(1);
      audited += rows.length;
    }
    counts['cross-team keys'] = { sent: crossKeys.length * 3, answered, audited };

    // 2. Text PostgreSQL cannot store, in every string param of every mutating method, and as a key.
    const mutating = (await ops.call('rpc.discover', {})).result as { methods: Array<{ name: string; mutating: boolean; params: JsonSchema }> };
    const bad = ['a\u0000b', 'x\ud800', '\udc00y'];
    const before2 = await refusedRows();
    let sent2 = 0;
    for (const m of mutating.methods.filter((x) => x.mutating && VALID_BASE[x.name])) {
      const base = VALID_BASE[m.name]!;
      const stringProps = Object.keys(m.params.properties ?? {}).filter((p) => typeOf(m.params.properties![p]!) === 'string');
      for (const prop of [...stringProps, 'build']) {
        for (const v of bad) {
          const id = `u-${++sent2}`;
          expectFieldRefusal(await ops.sendAndWait(JSON.stringify({ jsonrpc: '2.0', id, method: m.name, params: { ...base, [prop]: v } }), id), id, new RegExp(`^${prop}$`), `${m.name}.${prop}=${JSON.stringify(v)}`);
        }
      }
      const id = `u-${++sent2}`;
      expectFieldRefusal(await ops.sendAndWait(JSON.stringify({ jsonrpc: '2.0', id, method: m.name, params: { ...base, 'k\u0000': 1 } }), id), id, /^k\\u0000$/, `${m.name} NUL key`);
    }
    counts['unstorable text'] = { sent: sent2, answered: sent2, audited: (await refusedRows()) - before2 };
    expect(counts['unstorable text']!.audited).toBe(sent2);

    // 3. Depth and size bounds: deep arrays anywhere, details too deep, too big, with bad keys.
    const before3 = await refusedRows();
    const deepArray = (n: number): unknown => JSON.parse(`${'['.repeat(n)}${']'.repeat(n)}`);
    let nested: unknown = 1;
    for (let i = 0; i < 12; i++) nested = { n: nested };
    const shapes: Array<[string, Record<string, unknown>, RegExp]> = [
      ['coordination.update', { team: TEAM, operation: 'd', details: { x: deepArray(40) } }, /^details\.x(\[0\])+$/],
      ['coordination.update', { team: TEAM, operation: 'd', details: { n: nested } }, /^details$/],
      ['coordination.update', { team: TEAM, operation: 'd', details: { text: 'x'.repeat(20_000) } }, /^details$/],
      ['coordination.update', { team: TEAM, operation: 'd', details: { 'bad key': 1 } }, /^details/],
      ['consensus.request', { team: TEAM, operation: 'd', details: { text: 'y'.repeat(20_000) } }, /^details$/],
      ['lock.acquire', { team: TEAM, operation: 'd', owner: deepArray(40) }, /^owner(\[0\])+$/],
      ['coordination.execute', { team: TEAM, operation: 'version_upgrade', details: { n: nested } }, /^details$/],
      ['coordination.update', { team: TEAM, operation: 'o'.repeat(51) }, /^operation$/],
    ];
    let sent3 = 0;
    for (const [method, params, field] of shapes) {
      for (let rep = 0; rep < 3; rep++) {
        const id = `d-${++sent3}`;
        expectFieldRefusal(await ops.sendAndWait(JSON.stringify({ jsonrpc: '2.0', id, method, params }), id), id, field, `${method} ${field}`);
      }
    }
    counts['depth and size bounds'] = { sent: sent3, answered: sent3, audited: (await refusedRows()) - before3 };
    expect(counts['depth and size bounds']!.audited).toBe(sent3);
  } finally {
    await team.close();
    await team2.close();
  }

  // 4. Per-token live-stream caps: a team token gets 8 streams, the 9th is 429; ops still gets one.
  const streams: AbortController[] = [];
  const open = async (token: string): Promise<number> => {
    const ctl = new AbortController();
    streams.push(ctl);
    const r = await fetch(`${sc.httpUrl}/api/v1/events`, { headers: { Authorization: `Bearer ${token}` }, signal: ctl.signal });
    return r.status;
  };
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push(await open(sc.secrets['team-ci']!));
    statuses.push(await open(sc.secrets['team-ci']!));
    statuses.push(await open(sc.secrets['ops']!));
    expect(statuses).toEqual([...Array(8).fill(200), 429, 200]);
    counts['per-token stream caps'] = { sent: statuses.length, answered: statuses.length, audited: 'n/a (reads are not audited)' };
  } finally {
    for (const c of streams) c.abort();
  }

  process.stderr.write(
    `fuzz classes:\n${Object.entries(counts)
      .map(([k, v]) => `  ${k}: ${v.sent} frames sent, ${v.answered} properly answered, audit rows ${v.audited}`)
      .join('\n')}\n`,
  );
  expect(sc.exited()).toBe(false);
});

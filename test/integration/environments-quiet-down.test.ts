import Docker from 'dockerode';
import { RpcConnection, type RpcReply } from '../../agent/src/rpc/client';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, standinControl, type TestTeam } from '../support/docker-teams';
import { startTestSidecar, type InProcessSidecar } from '../support/sidecar-harness';
import { ensureStandinImage } from '../support/standin-image';

// environment.quietDown through the real transport (in-process sidecar, JSON-RPC over WebSocket,
// real Postgres) against stand-in Jenkins containers in Docker: the call the self-managed switch's
// post { failure } makes to give the migration's source its builds back.
jest.setTimeout(120_000);
const docker = new Docker();
let db: TestDatabase;
let t: TestTeam;
let sc: InProcessSidecar;
let rpc: RpcConnection;
let team: string;

const ok = (r: RpcReply): Record<string, unknown> => {
  if (!r.ok) throw new Error(`RPC error ${r.error.code} ${r.error.data?.code}: ${r.error.message}`);
  return r.result as Record<string, unknown>;
};
const rootOf = async (env: 'blue' | 'green'): Promise<{ quietingDown: boolean; quietDownReason: string | null }> => {
  const res = await fetch(`${t.team.environments[env].url}/api/json?tree=quietingDown,quietDownReason`, {
    headers: { Authorization: `Basic ${Buffer.from(`sidecar:${t.token}`).toString('base64')}` },
  });
  return (await res.json()) as { quietingDown: boolean; quietDownReason: string | null };
};

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('quietdown');
  t = await makeTestTeam({ prefix: 'qd' });
  team = t.team.team_name;
  sc = await startTestSidecar({ databaseUrl: db.url, tokens: [{ id: 'ci', teams: [team] }, { id: 'other', teams: ['someone-else'] }], env: { SIDECAR_TEAMS_FILE: t.teamsFile } });
  rpc = await RpcConnection.open(sc.handle.rpcUrl, sc.secrets.ci);
  ok(await rpc.call('environment.deploy', { team, target: 'blue', timeoutSec: 60 }));
  ok(await rpc.call('environment.deploy', { team, target: 'green', timeoutSec: 60 }));
  await seedServiceUser(t, 'blue');
  await seedServiceUser(t, 'green');
});

afterAll(async () => {
  rpc?.ws.close();
  await sc?.stop();
  await t?.cleanup(docker);
  await db?.drop();
});

test('a migration into the idle side leaves the source quiet; environment.quietDown cancel lifts it, journaled and audited', async () => {
  const migrated = ok(await rpc.call('state.migrate', { team, source: 'blue', target: 'green', timeoutSec: 20, build: 'infra/switch#3' }));
  expect(migrated).toMatchObject({ copied: true, sourceQuietingDown: true });
  expect((await rootOf('blue')).quietingDown).toBe(true);

  // The switch that would follow rolled back: post { failure } lifts the quiet-down on the source.
  const lifted = ok(await rpc.call('environment.quietDown', { team, environment: 'blue', cancel: true, build: 'infra/switch#3', idempotencyKey: `lift-${team}` }));
  expect(lifted).toEqual({ environment: 'blue', container: t.team.environments.blue.container, running: true, quietingDown: false, changed: true });
  expect((await rootOf('blue')).quietingDown).toBe(false);

  const ops = await sc.handle.store.journal.list({ team });
  const op = ops.find((o) => o.type === 'environment.quietDown');
  expect(op).toMatchObject({ status: 'succeeded', params: { environment: 'blue', cancel: true } });
  const full = await sc.handle.store.journal.get(op!.id);
  expect(full!.steps.map((s) => [s.name, s.outcome])).toEqual([['cancel_quiet_down', 'done']]);
  const audit = await sc.handle.store.audit.list({ team, operationType: 'environment.quietDown' });
  expect(audit).toEqual([expect.objectContaining({ team, status: 'SUCCESS', initiatedBy: 'infra/switch#3', metadata: expect.objectContaining({ params: { team, environment: 'blue', cancel: true } }) })]);

  // Again: nothing to lift, Jenkins is asked nothing and says so.
  const again = ok(await rpc.call('environment.quietDown', { team, environment: 'blue', cancel: true }));
  expect(again).toMatchObject({ quietingDown: false, changed: false });
});

test('cancel:false quiets a controller down with the reason Jenkins shows; the read-back answers the state', async () => {
  const quiet = ok(await rpc.call('environment.quietDown', { team, environment: 'green', cancel: false, reason: 'maintenance window' }));
  expect(quiet).toMatchObject({ environment: 'green', running: true, quietingDown: true, changed: true });
  expect(await rootOf('green')).toEqual(expect.objectContaining({ quietingDown: true, quietDownReason: 'maintenance window' }));
  ok(await rpc.call('environment.quietDown', { team, environment: 'green', cancel: true }));
  expect((await rootOf('green')).quietingDown).toBe(false);
});

test('while a migration drains the source, lifting its quiet-down is refused with CONFLICT (builds must not start mid-copy)', async () => {
  await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 9, oneOff: false }] });
  const migrating = rpc.call('state.migrate', { team, source: 'blue', target: 'green', timeoutSec: 30 });
  // Bounded wait until the migration has quieted blue down (it then waits for app#9).
  for (let i = 0; i < 200 && !(await rootOf('blue')).quietingDown; i++) await new Promise((r) => setTimeout(r, 50));
  expect(await sc.handle.store.journal.list({ team, status: 'running' })).toEqual([expect.objectContaining({ type: 'state.migrate' })]);
  const refused = await rpc.call('environment.quietDown', { team, environment: 'blue', cancel: true });
  expect(refused).toMatchObject({ ok: false, error: { data: { code: 'CONFLICT', reason: 'operation_running', exclusive: `environments:${team}` } } });
  expect((await rootOf('blue')).quietingDown).toBe(true);
  await standinControl(t.team, 'blue', { builds: [] });
  expect(ok(await migrating)).toMatchObject({ sourceQuietingDown: true });
  expect(ok(await rpc.call('environment.quietDown', { team, environment: 'blue', cancel: true }))).toMatchObject({ quietingDown: false, changed: true });
});

test('a stopped controller: lifting is a no-op (running:false), quieting it down is NOT_FOUND', async () => {
  ok(await rpc.call('environment.stop', { team, environment: 'green', graceSec: 5 }));
  const lift = ok(await rpc.call('environment.quietDown', { team, environment: 'green', cancel: true }));
  expect(lift).toEqual({ environment: 'green', container: t.team.environments.green.container, running: false, quietingDown: false, changed: false });
  const quiet = await rpc.call('environment.quietDown', { team, environment: 'green', cancel: false });
  expect(quiet).toMatchObject({ ok: false, error: { data: { code: 'NOT_FOUND' } } });
  expect(quiet.ok ? '' : quiet.error.message).toContain(t.team.environments.green.container);
});

test('params are checked at the edge and the token must cover the team', async () => {
  for (const params of [
    { team, environment: 'blue' },
    { team, environment: 'red', cancel: true },
    { team, environment: 'blue', cancel: 'yes' },
    { team, environment: 'blue', cancel: false, reason: 'line\nbreak' },
    { team, environment: 'blue', cancel: true, extra: 1 },
  ]) {
    expect({ params, reply: await rpc.call('environment.quietDown', params) }).toEqual({ params, reply: expect.objectContaining({ ok: false, error: expect.objectContaining({ code: -32602 }) }) });
  }
  const other = await RpcConnection.open(sc.handle.rpcUrl, sc.secrets.other);
  try {
    const r = await other.call('environment.quietDown', { team, environment: 'blue', cancel: true });
    expect(r).toMatchObject({ ok: false, error: { data: { code: 'FORBIDDEN' } } });
  } finally {
    other.ws.close();
  }
  expect((await rootOf('blue')).quietingDown).toBe(false);
});

import Docker from 'dockerode';
import { RpcConnection, type RpcReply } from '../../agent/src/rpc/client';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, type TestTeam } from '../support/docker-teams';
import { startTestSidecar, type InProcessSidecar } from '../support/sidecar-harness';
import { ensureStandinImage } from '../support/standin-image';

// The environment methods through the real transport: a sidecar in this process, JSON-RPC over WebSocket,
// real Postgres, real Docker containers of the stand-in Jenkins.
jest.setTimeout(120_000);
const docker = new Docker();
let db: TestDatabase;
let t: TestTeam;
let sc: InProcessSidecar;
let rpc: RpcConnection;

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('envrpc');
  t = await makeTestTeam({ prefix: 'rpc' });
  sc = await startTestSidecar({ databaseUrl: db.url, tokens: [{ id: 'ci', teams: [t.team.team_name] }], env: { SIDECAR_TEAMS_FILE: t.teamsFile } });
  rpc = await RpcConnection.open(sc.handle.rpcUrl, sc.secrets.ci);
});

afterAll(async () => {
  rpc?.ws.close();
  await sc?.stop();
  await t?.cleanup(docker);
  await db?.drop();
});

const ok = (r: RpcReply): Record<string, unknown> => {
  if (!r.ok) throw new Error(`RPC error ${r.error.code} ${r.error.data?.code}: ${r.error.message}`);
  return r.result as Record<string, unknown>;
};

test('environment.deploy streams progress and answers with container, health and ports; green again with the same idempotencyKey re-attaches', async () => {
  const team = t.team.team_name;
  const progress: Array<Record<string, unknown>> = [];
  const blue = ok(await rpc.call('environment.deploy', { team, target: 'blue', timeoutSec: 60 }, (p) => progress.push(p)));
  expect(blue).toMatchObject({ container: `jenkins-${team}-blue`, healthy: true, ports: { web: t.team.web_port, agent: t.team.agent_port } });
  expect(progress.map((p) => p.phase)).toEqual(expect.arrayContaining(['start', 'health', 'done']));
  const first = ok(await rpc.call('environment.deploy', { team, target: 'green', timeoutSec: 60, idempotencyKey: `deploy-green-${team}` }));
  const id = (await docker.getContainer(`jenkins-${team}-green`).inspect()).Id;
  const again = ok(await rpc.call('environment.deploy', { team, target: 'green', timeoutSec: 60, idempotencyKey: `deploy-green-${team}` }));
  expect(again).toEqual(first);
  expect((await docker.getContainer(`jenkins-${team}-green`).inspect()).Id).toBe(id);
});

test('redeploying the serving side answers CONFLICT; bad params answer -32602', async () => {
  const team = t.team.team_name;
  const r = await rpc.call('environment.deploy', { team, target: 'blue' });
  expect(r).toMatchObject({ ok: false, error: { data: { code: 'CONFLICT', reason: 'target_serving' } } });
  const same = await rpc.call('state.migrate', { team, source: 'blue', target: 'blue' });
  expect(same).toMatchObject({ ok: false, error: { code: -32602 } });
  const badId = await rpc.call('backup.restore', { team, backupId: '../../etc/passwd', environment: 'green' });
  expect(badId).toMatchObject({ ok: false, error: { code: -32602 } });
});

test('state.migrate, environment.validate and backups through RPC; the calling build (param build) is not waited for', async () => {
  const team = t.team.team_name;
  await seedServiceUser(t, 'blue');
  await seedServiceUser(t, 'green');
  const create = await fetch(`${t.team.environments.blue.url}/createItem?name=app`, {
    method: 'POST',
    body: '<flow-definition/>',
    headers: { Authorization: `Basic ${Buffer.from(`sidecar:${t.token}`).toString('base64')}` },
  });
  expect(create.status).toBe(200);
  await fetch(`${t.team.environments.blue.url}/_standin/control`, { method: 'POST', body: JSON.stringify({ builds: [{ job: 'infra/switch', number: 7, oneOff: true }] }) });
  const migrated = ok(await rpc.call('state.migrate', { team, source: 'blue', target: 'green', timeoutSec: 20, build: 'infra/switch#7' }));
  expect(migrated).toMatchObject({ jobs: 1, jobNames: ['app'], copied: true });
  const v = ok(await rpc.call('environment.validate', { team, environment: 'green', source: 'blue' }));
  expect(v).toMatchObject({ passed: true, source: 'blue' });
  expect((v.checks as unknown[]).length).toBe(6);

  const b = ok(await rpc.call('backup.create', { team }));
  expect(b).toMatchObject({ environment: 'blue' });
  const list = ok(await rpc.call('backup.list', { team }));
  expect((list.backups as Array<{ backupId: string }>).map((x) => x.backupId)).toEqual([b.backupId]);
  const restored = ok(await rpc.call('backup.restore', { team, backupId: b.backupId, environment: 'green' }));
  expect(restored).toMatchObject({ restored: true, reloaded: true });
  const stopped = ok(await rpc.call('environment.stop', { team, environment: 'green', graceSec: 5 }));
  expect(stopped).toMatchObject({ stopped: true });
});

test('rpc.discover lists the environment methods', async () => {
  const d = ok(await rpc.call('rpc.discover', {}));
  const names = JSON.stringify(d);
  for (const m of ['environment.deploy', 'environment.stop', 'environment.validate', 'state.migrate', 'backup.create', 'backup.list', 'backup.restore']) expect(names).toContain(m);
});

test("coordination.execute: scope 'all' needs an ops token; scope 'team' needs a team", async () => {
  const all = await rpc.call('coordination.execute', { scope: 'all', operation: 'plugin_update', details: { text: 'x' } });
  expect(all).toMatchObject({ ok: false, error: { data: { code: 'FORBIDDEN' } } });
  const noTeam = await rpc.call('coordination.execute', { operation: 'plugin_update' });
  expect(noTeam).toMatchObject({ ok: false, error: { code: -32602 } });
});

test('two deploys of one team at once: the second is refused with CONFLICT naming the running one', async () => {
  const team = t.team.team_name;
  const first = rpc.call('environment.deploy', { team, target: 'green', timeoutSec: 60 });
  // Bounded wait until the first is journaled as running.
  for (let i = 0; i < 50; i++) {
    const ops = await sc.handle.store.journal.list({ team, status: 'running' });
    if (ops.some((o) => o.type === 'environment.deploy')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const second = await rpc.call('environment.deploy', { team, target: 'green', timeoutSec: 60 });
  expect(second).toMatchObject({ ok: false, error: { data: { code: 'CONFLICT', reason: 'operation_running', exclusive: `environments:${team}` } } });
  expect(ok(await first)).toMatchObject({ healthy: true, replaced: true });
});

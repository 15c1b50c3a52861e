import Docker from 'dockerode';
import { listArchive } from '../../agent/src/docker/archive';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import type { JenkinsClient } from '../../agent/src/jenkins/client';
import { RpcConnection, type RpcReply } from '../../agent/src/rpc/client';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, standinControl, type TestTeam } from '../support/docker-teams';
import { httpGet } from '../support/sidecar-process-rpc';
import { startTestSidecar, type InProcessSidecar } from '../support/sidecar-harness';
import { ensureStandinImage } from '../support/standin-image';

/**
 * Risk 6 (state migration fails half-way) through the real transport: a
 * sidecar, real Postgres, real stand-in Jenkins containers. Faults: the
 * target's reload fails after the copy; the target container is removed
 * while the migration waits for the source to go idle. Either way the
 * source's quiet-down is cancelled, the error names what failed, the journal
 * ends the operation, nothing stays in flight and the audit records the failure.
 */
jest.setTimeout(120_000);
const docker = new Docker();
let db: TestDatabase;
let t: TestTeam;
let sc: InProcessSidecar;
let rpc: RpcConnection;
let blue: JenkinsClient;
let team: string;

const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";

const ok = (r: RpcReply): Record<string, unknown> => {
  if (!r.ok) throw new Error(`RPC error ${r.error.code} ${r.error.data?.code}: ${r.error.message}`);
  return r.result as Record<string, unknown>;
};

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('risk6');
  t = await makeTestTeam({ prefix: 'r6' });
  team = t.team.team_name;
  sc = await startTestSidecar({ databaseUrl: db.url, tokens: [{ id: 'ops', teams: ['*'] }], env: { SIDECAR_TEAMS_FILE: t.teamsFile } });
  rpc = await RpcConnection.open(sc.handle.rpcUrl, sc.secrets.ops!);
  ok(await rpc.call('environment.deploy', { team, target: 'blue', timeoutSec: 60 }));
  ok(await rpc.call('environment.deploy', { team, target: 'green', timeoutSec: 60 }));
  await seedServiceUser(t, 'blue');
  await seedServiceUser(t, 'green');
  const jenkinsFor = teamJenkinsClientFactory();
  blue = jenkinsFor(t.team, 'blue');
  await blue.createJob('app', PIPELINE);
});

afterAll(async () => {
  rpc?.ws.close();
  await sc?.stop();
  await t?.cleanup(docker);
  await db?.drop();
});

async function greenHasJob(name: string): Promise<boolean> {
  const files = (await listArchive(await docker.getContainer(t.team.environments.green.container).getArchive({ path: '/var/jenkins_home' }))).map((f) => f.path);
  return files.includes(`jenkins_home/jobs/${name}/config.xml`);
}

/** The end every case must reach: nothing in flight, state unchanged (blue active), the failure journaled and audited. */
async function expectEndedCleanly(operationId: string): Promise<void> {
  expect(ok(await rpc.call('environment.status', { team }))).toMatchObject({ active: 'blue', operation: null });
  expect(ok(await rpc.call('operation.get', { operationId }))).toMatchObject({ status: 'failed' });
  expect(ok(await rpc.call('lock.list', { team }))).toEqual({ locks: [] });
  const audit = await httpGet(`${sc.handle.httpUrl}/api/v1/audit?team=${team}&type=state.migrate&limit=50`, { Authorization: `Bearer ${sc.secrets.ops}` });
  const entries = (JSON.parse(audit.body) as { audit: Array<{ status: string; metadata: { error?: { code: string } } }> }).audit;
  expect(entries.some((e) => e.status === 'FAILURE' && e.metadata.error !== undefined)).toBe(true);
}

test('the target fails its reload after the copy: the error names the reload, the source is no longer quieting down', async () => {
  expect(await greenHasJob('app')).toBe(false);
  await standinControl(t.team, 'green', { unhealthy: true }); // answers 503 from here on, as a controller failing to reload
  const progress: Array<Record<string, unknown>> = [];
  const r = await rpc.call('state.migrate', { team, source: 'blue', target: 'green', timeoutSec: 20 }, (p) => progress.push(p));
  await standinControl(t.team, 'green', { unhealthy: false });
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.error.message).toContain(`${team}/green`);
  expect(r.error.message).toContain('POST /reload');
  expect(r.error.data).toMatchObject({ code: 'DEPENDENCY_DOWN', httpStatus: 503 });
  // Not asserted: the target keeps the copied files (it is neither untouched nor restored); reported to the lead.
  expect(progress.map((p) => p.phase)).toEqual(expect.arrayContaining(['quiet_down', 'copy', 'reload', 'cancel_quiet_down']));
  expect((await blue.root()).quietingDown).toBe(false);
  await expectEndedCleanly(String(r.error.data?.operationId ?? progress[0]?.operationId));
});

test('the target container is removed while the migration waits for the source: the error names the container, the source is no longer quieting down', async () => {
  await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 3, oneOff: false }] });
  const progress: Array<Record<string, unknown>> = [];
  const running = rpc.call('state.migrate', { team, source: 'blue', target: 'green', timeoutSec: 20 }, (p) => progress.push(p));
  for (let i = 0; i < 100 && !progress.some((p) => p.phase === 'drain'); i++) await new Promise((r) => setTimeout(r, 100));
  expect(progress.some((p) => p.phase === 'drain')).toBe(true);
  expect((await blue.root()).quietingDown).toBe(true);
  await docker.getContainer(t.team.environments.green.container).remove({ force: true });
  await standinControl(t.team, 'blue', { builds: [] });
  const r = await running;
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.error.message).toContain(t.team.environments.green.container);
  expect(r.error.data?.action).toBe(`write /var/jenkins_home of ${t.team.environments.green.container}`);
  // A removed container is NOT_FOUND naming it, not "Docker engine down".
  expect(r.error.data).toMatchObject({ code: 'NOT_FOUND', container: t.team.environments.green.container });
  expect(r.error.message).toContain('no longer exists');
  expect(r.error.message).not.toContain('Docker engine');
  expect(progress.map((p) => p.phase)).toContain('cancel_quiet_down');
  expect((await blue.root()).quietingDown).toBe(false);
  await expectEndedCleanly(String(r.error.data?.operationId ?? progress[0]?.operationId));
});

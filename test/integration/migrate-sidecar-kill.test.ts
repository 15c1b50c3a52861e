import { mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { listSelectedEntries, type HomeEntry } from '../../agent/src/docker/archive';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment } from '../../agent/src/environments/deploy';
import type { JenkinsClient } from '../../agent/src/jenkins/client';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, standinControl, type TestTeam } from '../support/docker-teams';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { RpcClient } from '../support/sidecar-process-rpc';
import { ensureStandinImage } from '../support/standin-image';

// A real jenkins-sidecar process SIGKILLed in each pass of state.migrate (real Docker, stand-in
// controllers, real PostgreSQL); the restarted process (same instance id and data dir) recovers.
jest.setTimeout(180_000);
const docker = new Docker();
const SECRET = `ci-${Math.random().toString(16).slice(2)}-secret`;
const INSTANCE = `mk-${Math.random().toString(16).slice(2, 8)}`;
let db: TestDatabase;
let store: PgStore;
let t: TestTeam;
let dir: string;
let blue: JenkinsClient;
const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";

const sidecar = (): Promise<SidecarProcess> =>
  startSidecarProcess({ databaseUrl: db.url, instanceId: INSTANCE, dir, tokens: [{ id: 'ci', teams: [t.team.team_name], secret: SECRET }], teamsYaml: readFileSync(t.teamsFile, 'utf8') });

async function homeListing(container: string): Promise<HomeEntry[]> {
  const entries = await listSelectedEntries(await docker.getContainer(container).getArchive({ path: '/var/jenkins_home' }), 'jenkins_home', () => true);
  return entries.sort((a, b) => a.path.localeCompare(b.path));
}

/** `mb` MiB of build logs for `jobs` new builds on blue, written through the archive API. */
async function history(jobs: string[], build: number, mb: number): Promise<void> {
  const pack = tarPack();
  const log = Buffer.alloc(1024 * 1024, 'log line\n');
  for (const j of jobs) for (let i = 0; i < mb; i++) pack.entry({ name: `jobs/${j}/builds/${build}/log-${i}` }, log);
  pack.finalize();
  await docker.getContainer(t.team.environments.blue.container).putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });
}

async function waitFor(c: RpcClient, phase: string): Promise<void> {
  for (let i = 0; i < 600 && !c.notifications.some((n) => n.params?.phase === phase); i++) await new Promise((r) => setTimeout(r, 50));
  expect(c.notifications.some((n) => n.params?.phase === phase)).toBe(true);
}

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('migkill');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-migkill' });
  t = await makeTestTeam({ prefix: 'mk' });
  dir = mkdtempSync(join(tmpdir(), 'jsm-migkill-'));
  chmodSync(dir, 0o711);
  const jenkinsFor = teamJenkinsClientFactory();
  for (const env of ['blue', 'green'] as const) {
    await deployEnvironment({ docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } }, t.team, { target: env, timeoutSec: 60, replace: true });
    await seedServiceUser(t, env);
  }
  blue = jenkinsFor(t.team, 'blue');
  await blue.createJob('app', PIPELINE);
  await blue.createJob('lib', PIPELINE);
  await history(['app', 'lib'], 1, 48); // enough that the pre-copy is still streaming when the kill comes
});

afterAll(async () => {
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function killAndRecover(sc: SidecarProcess, c: RpcClient): Promise<Record<string, unknown>> {
  const operationId = String(c.notifications.find((n) => n.params?.operationId)?.params?.operationId);
  await sc.kill();
  c.ws.terminate();
  const again = await sidecar();
  const c2 = await RpcClient.connect(again.rpcUrl, SECRET);
  try {
    let op: Record<string, unknown> | undefined;
    for (let i = 0; i < 200; i++) {
      op = (await c2.call('operation.get', { operationId })).result as Record<string, unknown> | undefined;
      if (op && op.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return op ?? {};
  } finally {
    await c2.close();
    await again.stop();
  }
}

test('killed during the pre-copy: after the restart green is exactly its old state and blue builds', async () => {
  const greenC = t.team.environments.green.container;
  const before = await homeListing(greenC);
  const sc = await sidecar();
  const c = await RpcClient.connect(sc.rpcUrl, SECRET);
  const answer = c.call('state.migrate', { team: t.team.team_name, source: 'blue', target: 'green', timeoutSec: 60 }, 120_000);
  answer.catch(() => undefined);
  await waitFor(c, 'copy');
  expect(c.notifications.some((n) => n.params?.phase === 'copied')).toBe(false); // still streaming
  const op = await killAndRecover(sc, c);
  expect(op).toMatchObject({ status: 'aborted', error: { data: { recovered: true, restoredTargets: ['green'] } } });
  expect(await homeListing(greenC)).toEqual(before);
  expect((await blue.root()).quietingDown).toBe(false);
});

test('killed during the delta: green is its old state again, not a mix, and blue\'s quiet-down is lifted', async () => {
  const greenC = t.team.environments.green.container;
  const before = await homeListing(greenC);
  await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 2, oneOff: false }] });
  const sc = await sidecar();
  const c = await RpcClient.connect(sc.rpcUrl, SECRET);
  const answer = c.call('state.migrate', { team: t.team.team_name, source: 'blue', target: 'green', timeoutSec: 60 }, 120_000);
  answer.catch(() => undefined);
  await waitFor(c, 'drain');
  // What the build writes while blue drains: a large delta, so the kill finds it being copied.
  await history(['app'], 2, 64);
  await standinControl(t.team, 'blue', { builds: [] });
  await waitFor(c, 'delta');
  expect((await blue.root()).quietingDown).toBe(true);
  const op = await killAndRecover(sc, c);
  expect(op).toMatchObject({ status: 'aborted', error: { data: { recovered: true, restoredTargets: ['green'], cancelledQuietDown: ['blue'] } } });
  expect(await homeListing(greenC)).toEqual(before);
  expect((await blue.root()).quietingDown).toBe(false);
});

import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { listArchive } from '../../agent/src/docker/archive';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment, type EnvironmentDeps } from '../../agent/src/environments/deploy';
import { migrateState, type MigrateDeps } from '../../agent/src/environments/migrate';
import { recoverEnvironmentOperations } from '../../agent/src/environments/recovery';
import type { JenkinsClient } from '../../agent/src/jenkins/client';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, standinControl, type TestTeam } from '../support/docker-teams';
import { ensureStandinImage } from '../support/standin-image';

// jest ignores testTimeout inside a project entry of jest.config.js; container starts need more than 5 s.
jest.setTimeout(120_000);
const docker = new Docker();
let db: TestDatabase;
let store: PgStore;
let t: TestTeam;
let blue: JenkinsClient;
let green: JenkinsClient;
let deps: MigrateDeps;

const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";
const FOLDER = "<?xml version='1.1' encoding='UTF-8'?>\n<com.cloudbees.hudson.plugins.folder.Folder plugin=\"cloudbees-folder\"/>\n";

function ctxCollecting(events: Array<{ phase: string; message: string }>): never {
  return { operation: { id: 'op' }, progress: (e: { phase: string; message: string }) => events.push(e), signal: new AbortController().signal } as never;
}

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('migrate');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-migrate' });
  t = await makeTestTeam({ prefix: 'mig' });
  const jenkinsFor = teamJenkinsClientFactory();
  const envDeps: EnvironmentDeps = { docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } };
  await deployEnvironment(envDeps, t.team, { target: 'blue', timeoutSec: 60, replace: true });
  await deployEnvironment(envDeps, t.team, { target: 'green', timeoutSec: 60, replace: true });
  await seedServiceUser(t, 'blue');
  await seedServiceUser(t, 'green');
  blue = jenkinsFor(t.team, 'blue');
  green = jenkinsFor(t.team, 'green');
  await blue.createJob('app', PIPELINE);
  await blue.createJob('Infrastructure', FOLDER);
  await blue.createJob('Infrastructure/Self-Managed-Blue-Green-Switch', PIPELINE);
  // Build history and a workspace on blue, which a migration must not carry over by default.
  const extra = tarPack();
  extra.entry({ name: 'jobs/app/builds/1/log' }, 'Started by user admin\nFinished: SUCCESS\n');
  extra.entry({ name: 'workspace/app/output.bin' }, 'scratch');
  extra.finalize();
  await docker.getContainer(t.team.environments.blue.container).putArchive(extra as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });
  deps = { docker, jenkinsFor };
});

afterAll(async () => {
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
});

test('moves the jobs of blue into green\'s volume; green lists them after reload; blue stays quiet', async () => {
  expect(await green.listJobs()).toEqual([]);
  const events: Array<{ phase: string; message: string }> = [];
  const r = await migrateState(deps, t.team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200 }, ctxCollecting(events));
  expect(r).toMatchObject({ jobs: 3, copied: true, sourceQuietingDown: true });
  expect(r.files).toBeGreaterThanOrEqual(4);
  const names = (await green.listJobs()).map((j) => j.fullName).sort();
  expect(names).toEqual(['Infrastructure', 'Infrastructure/Self-Managed-Blue-Green-Switch', 'app']);
  expect(events.map((e) => e.phase)).toEqual(expect.arrayContaining(['quiet_down', 'drained', 'copy', 'reload', 'done']));
  expect((await blue.root()).quietingDown).toBe(true);
  // build history and workspaces stay behind unless asked
  const greenFiles = (await listArchive(await docker.getContainer(t.team.environments.green.container).getArchive({ path: '/var/jenkins_home' }))).map((f) => f.path);
  expect(greenFiles).toEqual(expect.arrayContaining(['jenkins_home/jobs/app/config.xml', 'jenkins_home/users/sidecar/config.xml', 'jenkins_home/plugins/git.jpi']));
  expect(greenFiles.filter((f) => f.includes('/builds/') || f.includes('workspace'))).toEqual([]);
  await blue.cancelQuietDown();
});

test('a build running on blue delays the migration until it ends; the calling build (one-off executor) is not waited for', async () => {
  await standinControl(t.team, 'blue', {
    builds: [
      { job: 'Infrastructure/Self-Managed-Blue-Green-Switch', number: 41, oneOff: true },
      { job: 'app', number: 5, oneOff: false },
    ],
  });
  const events: Array<{ phase: string; message: string }> = [];
  const running = migrateState(deps, t.team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200, callerBuild: 'Infrastructure/Self-Managed-Blue-Green-Switch#41' }, ctxCollecting(events));
  // Bounded wait until the migration reports it is draining because of app#5.
  for (let i = 0; i < 100 && !events.some((e) => e.phase === 'drain'); i++) await new Promise((r) => setTimeout(r, 100));
  const drain = events.find((e) => e.phase === 'drain');
  expect(drain?.message).toContain('app#5');
  expect(drain?.message).not.toContain('#41');
  expect(events.some((e) => e.phase === 'copy')).toBe(false);
  // The build ends; the caller's own run is still going.
  await standinControl(t.team, 'blue', { builds: [{ job: 'Infrastructure/Self-Managed-Blue-Green-Switch', number: 41, oneOff: true }] });
  const r = await running;
  expect(r.jobs).toBe(3);
  const phases = events.map((e) => e.phase);
  expect(phases.indexOf('drain')).toBeLessThan(phases.indexOf('copy'));
  await blue.cancelQuietDown();
});

test('a stuck build ends the migration with TIMEOUT naming it, and blue\'s quiet-down is cancelled', async () => {
  await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 7, oneOff: false }], queue: [{ task: 'Infrastructure/Self-Managed-Blue-Green-Switch' }] });
  const err = await migrateState(deps, t.team, { source: 'blue', target: 'green', timeoutSec: 2, pollMs: 250 }).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'TIMEOUT', data: { running: ['app#7'], queued: ['Self-Managed-Blue-Green-Switch'] } });
  expect((err as Error).message).toContain('app#7');
  expect((err as Error).message).toContain('cancelled');
  expect((await blue.root()).quietingDown).toBe(false);
  await standinControl(t.team, 'blue', { builds: [], queue: [] });
});

test('refuses to migrate from a side that is not running', async () => {
  const other = await makeTestTeam({ prefix: 'mign' });
  try {
    await expect(migrateState(deps, other.team, { source: 'blue', target: 'green', timeoutSec: 2 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  } finally {
    await other.cleanup(docker);
  }
});

test('startup recovery closes a migration a killed sidecar left running and cancels the quiet-down it left on blue', async () => {
  const instanceId = `crashed-${Math.random().toString(16).slice(2, 8)}`;
  const actor = { tokenId: 'ci', instanceId };
  const { operation } = await store.journal.begin({ type: 'state.migrate', team: t.team.team_name, params: { source: 'blue', target: 'green' }, actor });
  await store.journal.intent(operation.id, 'quiet_down_source', { environment: 'blue' });
  await blue.quietDown('migration that will never end');
  const actions = await recoverEnvironmentOperations({ journal: store.journal, jenkinsFor: deps.jenkinsFor, team: (n) => (n === t.team.team_name ? t.team : undefined) }, instanceId);
  expect(actions).toEqual([expect.objectContaining({ operationId: operation.id, type: 'state.migrate', cancelledQuietDown: ['blue'] })]);
  expect((await blue.root()).quietingDown).toBe(false);
  expect(await store.journal.get(operation.id)).toMatchObject({ status: 'aborted', error: { code: 'DEPENDENCY_DOWN' } });
  expect(await recoverEnvironmentOperations({ journal: store.journal, jenkinsFor: deps.jenkinsFor, team: () => t.team }, instanceId)).toEqual([]);
});

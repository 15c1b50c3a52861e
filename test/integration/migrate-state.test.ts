import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { listArchive, listSelectedEntries, type HomeEntry } from '../../agent/src/docker/archive';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import type { EnvironmentDeps } from '../../agent/src/environments/deploy';
import { migrateState, type MigrateDeps } from '../../agent/src/environments/migrate';
import { recoverEnvironmentOperations } from '../../agent/src/environments/recovery';
import { removeFromHome, saveTargetHome, snapshotPath } from '../../agent/src/environments/target-snapshot';
import { selectForMigration } from '../../agent/src/jenkins/home-layout';
import type { JenkinsClient } from '../../agent/src/jenkins/client';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { deployBothWithServiceUser, makeTestTeam, standinControl, type TestTeam } from '../support/docker-teams';
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
const snapshotDirs: string[] = [];

/** A fresh directory for saved target states, removed after the file. */
function tempSnapshotDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'jsm-migrate-snap-'));
  snapshotDirs.push(d);
  return d;
}

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
  await deployBothWithServiceUser(envDeps, t);
  blue = jenkinsFor(t.team, 'blue');
  green = jenkinsFor(t.team, 'green');
  await blue.createJob('app', PIPELINE);
  await blue.createJob('Infrastructure', FOLDER);
  await blue.createJob('Infrastructure/Self-Managed-Blue-Green-Switch', PIPELINE);
  // Build history (carried over by default) and a workspace (not) on blue.
  const extra = tarPack();
  extra.entry({ name: 'jobs/app/builds/1/log' }, 'Started by user admin\nFinished: SUCCESS\n');
  extra.entry({ name: 'workspace/app/output.bin' }, 'scratch');
  extra.finalize();
  await docker.getContainer(t.team.environments.blue.container).putArchive(extra as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });
  deps = { docker, jenkinsFor };
});

/** Every entry of a container's JENKINS_HOME (path, kind, sha256 of files, symlink targets), through the archive API, sorted. */
async function homeListing(container: string): Promise<HomeEntry[]> {
  const entries = await listSelectedEntries(await docker.getContainer(container).getArchive({ path: '/var/jenkins_home' }), 'jenkins_home', () => true);
  return entries.sort((a, b) => a.path.localeCompare(b.path));
}

const digestOf = (home: HomeEntry[], path: string): string | undefined => home.find((e) => e.path === path)?.sha256;

/** Writes files into a container's JENKINS_HOME through the archive API. */
async function putFiles(container: string, files: Record<string, string | Buffer>): Promise<void> {
  const pack = tarPack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name }, body);
  pack.finalize();
  await docker.getContainer(container).putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });
}

/**
 * The real Docker engine, except that the nth archive upload (1: the
 * pre-copy, 2: the delta) is cut after `bytes`: Docker extracts every entry up
 * to there into the real target, then fails on the truncated tar. Other
 * uploads (the restore) go through whole.
 */
function dockerCuttingFirstUpload(bytes: number, nth = 1): Docker {
  let uploads = 0;
  return new Proxy(docker, {
    get(target, prop, receiver) {
      if (prop !== 'getContainer') return Reflect.get(target, prop, receiver) as unknown;
      return (id: string) => {
        const c = target.getContainer(id);
        return new Proxy(c, {
          get(ct, cprop, crecv) {
            if (cprop !== 'putArchive') return Reflect.get(ct, cprop, crecv) as unknown;
            return (input: Readable, opts: object) => (++uploads === nth ? ct.putArchive(input.pipe(cutAfter(bytes)) as unknown as NodeJS.ReadableStream, opts) : ct.putArchive(input as unknown as NodeJS.ReadableStream, opts));
          },
        });
      };
    },
  });
}

/** Passes the first `bytes` through and ends; what follows is read and dropped so the source stream is not left hanging. */
function cutAfter(bytes: number): Transform {
  let passed = 0;
  let ended = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (!ended) {
        const take = Math.min(chunk.length, bytes - passed);
        passed += take;
        if (take > 0) this.push(chunk.subarray(0, take));
        if (passed >= bytes) {
          ended = true;
          this.push(null);
        }
      }
      cb();
    },
  });
}

afterAll(async () => {
  for (const d of snapshotDirs) rmSync(d, { recursive: true, force: true });
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
});

test('moves the jobs of blue into green\'s volume; green lists them after its restart (blue\'s secrets/ came along); blue stays quiet', async () => {
  expect(await green.listJobs()).toEqual([]);
  const events: Array<{ phase: string; message: string }> = [];
  const r = await migrateState(deps, t.team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200 }, ctxCollecting(events));
  expect(r).toMatchObject({ jobs: 3, copied: true, sourceQuietingDown: true, operation: 'switch', imageOwned: false, leftToImage: [], includeBuilds: true });
  expect(r.files).toBeGreaterThanOrEqual(4);
  const names = (await green.listJobs()).map((j) => j.fullName).sort();
  expect(names).toEqual(['Infrastructure', 'Infrastructure/Self-Managed-Blue-Green-Switch', 'app']);
  // Green started with a master key of its own: blue's, copied, is read only by a restart.
  expect(r.restart).toMatchObject({ restarted: true, secrets: expect.arrayContaining(['secrets/master.key']) });
  expect(events.map((e) => e.phase)).toEqual(expect.arrayContaining(['quiet_down', 'drained', 'copy', 'restart', 'restarted', 'done']));
  expect((await blue.root()).quietingDown).toBe(true);
  // build history comes along; workspaces stay behind unless asked
  const greenFiles = (await listArchive(await docker.getContainer(t.team.environments.green.container).getArchive({ path: '/var/jenkins_home' }))).map((f) => f.path);
  expect(greenFiles).toEqual(expect.arrayContaining(['jenkins_home/jobs/app/config.xml', 'jenkins_home/jobs/app/builds/1/log', 'jenkins_home/users/sidecar/config.xml', 'jenkins_home/plugins/git.jpi']));
  expect(greenFiles.filter((f) => f.includes('workspace'))).toEqual([]);
  await blue.cancelQuietDown();
});

test('migrating again when green already holds every byte does not reload it (no 503s on a side that may already serve)', async () => {
  const reloads = async (): Promise<number> => ((await (await fetch(`${t.team.environments.green.url}/_standin/control`)).json()) as { reloads: number }).reloads;
  const before = await reloads();
  const r = await migrateState(deps, t.team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200 });
  await blue.cancelQuietDown();
  expect(r).toMatchObject({ reloaded: false, delta: { removed: 0 } });
  expect(await reloads()).toBe(before);
  expect((await green.listJobs()).map((j) => j.fullName).sort()).toEqual(['Infrastructure', 'Infrastructure/Self-Managed-Blue-Green-Switch', 'app']);
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
  // The pre-copy ran while blue still built; the delta waits for idle.
  expect(events.some((e) => e.phase === 'copied')).toBe(true);
  expect(events.some((e) => e.phase === 'delta')).toBe(false);
  // The build ends; the caller's own run is still going.
  await standinControl(t.team, 'blue', { builds: [{ job: 'Infrastructure/Self-Managed-Blue-Green-Switch', number: 41, oneOff: true }] });
  const r = await running;
  expect(r.jobs).toBe(3);
  const phases = events.map((e) => e.phase);
  expect(phases.indexOf('copy')).toBeLessThan(phases.indexOf('quiet_down'));
  expect(phases.indexOf('drain')).toBeLessThan(phases.indexOf('delta'));
  await blue.cancelQuietDown();
});

test('a stuck build ends the migration with TIMEOUT naming it, and blue\'s quiet-down is cancelled', async () => {
  await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 7, oneOff: false }], queue: [{ task: 'Infrastructure/Self-Managed-Blue-Green-Switch' }] });
  const err = await migrateState(deps, t.team, { source: 'blue', target: 'green', timeoutSec: 2, pollMs: 250 }).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'TIMEOUT', data: { running: ['app#7'], queued: ['Self-Managed-Blue-Green-Switch'] } });
  expect((err as Error).message).toContain('app#7');
  expect((err as Error).message).toContain('cancelled');
  // The pre-copy had written into green before blue was quieted: green is put back.
  expect((err as Error).message).toContain(`${t.team.team_name}/green was restored to its state before the copy`);
  expect(err).toMatchObject({ data: { targetRestored: true } });
  expect((await blue.root()).quietingDown).toBe(false);
  await standinControl(t.team, 'blue', { builds: [], queue: [] });
});

test('a copy broken half-way leaves green exactly as before: what it added is removed, what it overwrote written back, journaled before the quiet-down is cancelled', async () => {
  const greenC = t.team.environments.green.container;
  // On blue: a new version of app's config (green has the old one: overwritten), a new job (added), and 4 MiB under users/ (copied last, lexically) where the cut falls.
  await putFiles(t.team.environments.blue.container, {
    'jobs/app/config.xml': PIPELINE.replace('<definition/>', '<description>v2</description><definition/>'),
    'jobs/fresh/config.xml': PIPELINE,
    'users/zz-big/blob': Buffer.alloc(4 * 1024 * 1024, 7),
  });
  const before = await homeListing(greenC);
  expect(digestOf(before, 'jobs/app/config.xml')).toBeDefined();
  expect(before.some((e) => e.path === 'jobs/fresh')).toBe(false);
  const { operation } = await store.journal.begin({ type: 'state.migrate', team: t.team.team_name, params: {}, actor: { tokenId: 'ci', instanceId: 'test-migrate' } });
  const events: Array<{ phase: string; message: string }> = [];
  const ctx = { operation: { id: operation.id }, progress: (e: { phase: string; message: string }) => events.push(e), signal: new AbortController().signal } as never;
  const snapshotDir = tempSnapshotDir();
  const err = await migrateState({ ...deps, docker: dockerCuttingFirstUpload(2 * 1024 * 1024), journal: store.journal, snapshotDir }, t.team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200 }, ctx).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'DEPENDENCY_DOWN', data: { action: `write /var/jenkins_home of ${greenC}`, targetRestored: true } });
  expect((err as Error).message).toContain(`${t.team.team_name}/green was restored to its state before the copy`);
  expect(await homeListing(greenC)).toEqual(before);
  const steps = (await store.journal.get(operation.id))?.steps ?? [];
  // The pre-copy runs before any quiet-down: blue never stopped building.
  expect(steps.map((s) => [s.name, s.outcome])).toEqual([
    ['snapshot_target', 'done'],
    ['copy_configuration', 'failed'],
    ['restore_target', 'done'],
  ]);
  // The cut copy did write: the restore removed what it added (jobs/fresh) and wrote back what it overwrote (jobs/app/config.xml).
  expect(Number(steps[2].result?.removed)).toBeGreaterThanOrEqual(1);
  expect(Number(steps[2].result?.rewritten)).toBeGreaterThanOrEqual(1);
  expect(existsSync(String(steps[0].intent.archive))).toBe(false);
  expect(events.map((e) => e.phase)).toEqual(expect.arrayContaining(['snapshot', 'copy', 'restore_target', 'target_restored']));
  expect((await blue.root()).quietingDown).toBe(false);
  await store.journal.finish(operation.id, 'failed', null, { code: 'DEPENDENCY_DOWN', message: (err as Error).message, data: {} });
});

/** Starts a migration that waits on a running build of blue; resolves once it reports draining (the pre-copy is done). */
async function migrationHeldAtDrain(migrateDeps: MigrateDeps, events: Array<{ phase: string; message: string }>, ctx: never): Promise<{ running: Promise<unknown> }> {
  await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 2, oneOff: false }] });
  const running = migrateState(migrateDeps, t.team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200 }, ctx).catch((e: unknown) => e);
  for (let i = 0; i < 150 && !events.some((e) => e.phase === 'drain'); i++) await new Promise((r) => setTimeout(r, 100));
  expect(events.some((e) => e.phase === 'drain')).toBe(true);
  return { running }; // wrapped: an async function returning the promise itself would wait for it
}

/** What the running build and a user do on blue while it drains: a build's files, the next number, a job deleted. */
async function changeBlueWhileDraining(): Promise<void> {
  await putFiles(t.team.environments.blue.container, { 'jobs/app/builds/2/log': `${'step\n'.repeat(16_000)}Finished: SUCCESS\n`, 'jobs/app/builds/2/build.xml': '<build/>\n', 'jobs/app/nextBuildNumber': '3\n' });
  await removeFromHome(docker, t.team.environments.blue.container, ['jobs/gone']);
  // Deleted on disk behind Jenkins's back: a reload makes blue forget it too (as deleting it in the UI would).
  await blue.reload();
  for (let i = 0; i < 100 && !(await blue.root().then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
  await standinControl(t.team, 'blue', { builds: [] });
}

test('what changes on blue while it drains comes with the delta (a build, the next number, a deleted job); pre-copy progress carries bytes, files and rate', async () => {
  await blue.createJob('gone', PIPELINE);
  await migrateState(deps, t.team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200 });
  await blue.cancelQuietDown();
  expect((await homeListing(t.team.environments.green.container)).some((e) => e.path === 'jobs/gone/config.xml')).toBe(true);
  const events: Array<{ phase: string; message: string }> = [];
  const ctx = { operation: { id: 'op-delta' }, progress: (e: { phase: string; message: string }) => events.push(e), signal: new AbortController().signal } as never;
  const { running } = await migrationHeldAtDrain({ ...deps, progressEveryMs: 0 }, events, ctx);
  await changeBlueWhileDraining();
  const r = (await running) as Awaited<ReturnType<typeof migrateState>>;
  expect(r).toMatchObject({ copied: true, delta: { removed: 1 } });
  expect(r.delta.files).toBeGreaterThanOrEqual(3);
  expect(r.delta.files).toBeLessThan(r.precopy.files);
  const green = await homeListing(t.team.environments.green.container);
  const blueHome = await homeListing(t.team.environments.blue.container);
  for (const p of ['jobs/app/builds/2/log', 'jobs/app/builds/2/build.xml', 'jobs/app/nextBuildNumber']) expect([p, digestOf(green, p)]).toEqual([p, digestOf(blueHome, p)]);
  expect(green.some((e) => e.path.startsWith('jobs/gone'))).toBe(false);
  const progress = events.find((e) => e.phase === 'precopy');
  expect(progress).toMatchObject({ bytes: expect.any(Number), files: expect.any(Number), rateMBps: expect.any(Number) });
  expect(progress?.message).toMatch(/MB, \d+ files, [\d.]+ MB\/s/);
  expect(events.find((e) => e.phase === 'done')?.message).toContain('builds were blocked for');
  await blue.cancelQuietDown();
});

test('a delta broken half-way leaves green as it was before the pre-copy, and lifts blue\'s quiet-down', async () => {
  const greenC = t.team.environments.green.container;
  await blue.createJob('gone', PIPELINE);
  await putFiles(t.team.environments.blue.container, { 'jobs/app/builds/2/log': 'old\n', 'jobs/app/nextBuildNumber': '2\n' });
  const before = await homeListing(greenC);
  const { operation } = await store.journal.begin({ type: 'state.migrate', team: t.team.team_name, params: {}, actor: { tokenId: 'ci', instanceId: 'test-migrate' } });
  const events: Array<{ phase: string; message: string }> = [];
  const ctx = { operation: { id: operation.id }, progress: (e: { phase: string; message: string }) => events.push(e), signal: new AbortController().signal } as never;
  const { running } = await migrationHeldAtDrain({ ...deps, docker: dockerCuttingFirstUpload(32 * 1024, 2), journal: store.journal, snapshotDir: tempSnapshotDir() }, events, ctx);
  await changeBlueWhileDraining();
  const err = await running;
  expect(err).toMatchObject({ code: 'DEPENDENCY_DOWN', data: { targetRestored: true } });
  expect(await homeListing(greenC)).toEqual(before);
  const steps = (await store.journal.get(operation.id))?.steps ?? [];
  expect(steps.map((st) => [st.name, st.outcome])).toEqual([
    ['snapshot_target', 'done'],
    ['copy_configuration', 'done'],
    ['quiet_down_source', 'done'],
    ['copy_delta', 'failed'],
    ['restore_target', 'done'],
    ['cancel_quiet_down_source', 'done'],
  ]);
  expect((await blue.root()).quietingDown).toBe(false);
  await store.journal.finish(operation.id, 'failed', null, { code: 'DEPENDENCY_DOWN', message: (err as Error).message, data: {} });
});

test('startup recovery puts back a target a killed sidecar left half-copied, from the archive the journal names', async () => {
  const greenC = t.team.environments.green.container;
  const before = await homeListing(greenC);
  const instanceId = `crashed-${Math.random().toString(16).slice(2, 8)}`;
  const { operation } = await store.journal.begin({ type: 'state.migrate', team: t.team.team_name, params: { source: 'blue', target: 'green' }, actor: { tokenId: 'ci', instanceId } });
  await store.journal.intent(operation.id, 'quiet_down_source', { environment: 'blue' });
  await blue.quietDown('migration that will never end');
  const archive = snapshotPath(tempSnapshotDir(), operation.id, 'green');
  const seq = await store.journal.intent(operation.id, 'snapshot_target', { environment: 'green', container: greenC, archive, includeBuilds: false, includeWorkspaces: false });
  await saveTargetHome(docker, greenC, selectForMigration({ includeBuilds: false }), archive);
  await store.journal.outcome(operation.id, seq, 'done', {});
  await store.journal.intent(operation.id, 'copy_configuration', {});
  // What the killed copy got to write: one overwritten config and one new job.
  await putFiles(greenC, { 'jobs/app/config.xml': '<crashed/>\n', 'jobs/half/config.xml': PIPELINE });
  expect(await homeListing(greenC)).not.toEqual(before);

  const actions = await recoverEnvironmentOperations({ journal: store.journal, jenkinsFor: deps.jenkinsFor, team: (n) => (n === t.team.team_name ? t.team : undefined), docker }, instanceId);
  expect(actions).toEqual([expect.objectContaining({ operationId: operation.id, restoredTargets: ['green'], cancelledQuietDown: ['blue'] })]);
  expect(actions[0].note).toContain('migration target green restored');
  expect(await homeListing(greenC)).toEqual(before);
  expect(existsSync(archive)).toBe(false);
  const op = await store.journal.get(operation.id);
  expect(op).toMatchObject({ status: 'aborted', error: { data: { restoredTargets: ['green'] } } });
  expect(op?.steps.find((s) => s.name === 'restore_target')).toMatchObject({ outcome: 'done', intent: { archive, recovered: true } });
  expect((await blue.root()).quietingDown).toBe(false);
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

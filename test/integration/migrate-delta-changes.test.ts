import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { listSelectedEntries, type HomeEntry } from '../../agent/src/docker/archive';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import type { EnvironmentDeps } from '../../agent/src/environments/deploy';
import { engineClockMs } from '../../agent/src/environments/home-changes';
import { migrateState } from '../../agent/src/environments/migrate';
import { execInContainer, removeFromHome } from '../../agent/src/environments/target-snapshot';
import type { JenkinsClient } from '../../agent/src/jenkins/client';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { deployBothWithServiceUser, makeTestTeam, standinControl, type TestTeam } from '../support/docker-teams';
import { ensureStandinImage } from '../support/standin-image';

/**
 * The final delta lists only what changed since the pre-copy (ctime, find
 * -newerct) and the contents of the directories that changed. Here blue
 * changes in every way that listing must not miss while it drains: a new
 * build, a file rewritten, a job deleted, a file deleted from a directory
 * nothing else changed in, a file replaced by a directory, and a job moved in
 * from outside the selection whose files are older than the pre-copy (so only
 * its parent directory's change reveals it). The build that asked for the
 * migration runs on blue and writes its log meanwhile: its directory stays
 * out. Afterwards green's jobs/ is blue's, byte for byte, but for that build. Real stand-in containers on the real Docker engine.
 */
jest.setTimeout(120_000);
const docker = new Docker();
const jenkinsFor = teamJenkinsClientFactory();
const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";
let db: TestDatabase;
let store: PgStore;
let t: TestTeam;
let blue: JenkinsClient;

async function putFiles(container: string, files: Record<string, string>): Promise<void> {
  const pack = tarPack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name }, body);
  pack.finalize();
  await docker.getContainer(container).putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });
}

/** jobs/ of a container's home (path, kind, sha256), sorted. */
async function jobsTree(container: string): Promise<HomeEntry[]> {
  const entries = await listSelectedEntries(await docker.getContainer(container).getArchive({ path: '/var/jenkins_home' }), 'jenkins_home', (rel) => rel === 'jobs' || rel.startsWith('jobs/'));
  return entries.sort((a, b) => a.path.localeCompare(b.path));
}

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('migdelta');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-migrate-delta' });
  t = await makeTestTeam({ prefix: 'mdl' });
  const envDeps: EnvironmentDeps = { docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } };
  await deployBothWithServiceUser(envDeps, t);
  blue = jenkinsFor(t.team, 'blue');
  for (const job of ['app', 'gone']) await blue.createJob(job, PIPELINE);
  await putFiles(t.team.environments.blue.container, {
    'jobs/app/builds/1/log': 'Started by user admin\nFinished: SUCCESS\n',
    'jobs/app/builds/1/build.xml': '<build/>\n',
    'jobs/app/builds/permalinks': 'lastSuccessfulBuild 1\n',
    'jobs/app/nextBuildNumber': '2\n',
    // The build asking for the migration, running on blue: its directory is written until it ends.
    'jobs/app/builds/7/log': 'Started by user admin\n',
    // Outside the selection (not copied): moved into jobs/ later, with the ctimes it has now.
    'staging/moved/config.xml': PIPELINE,
    'staging/moved/builds/1/log': 'Finished: SUCCESS\n',
  });
  // A hundred jobs nothing touches: the delta must not list them.
  const untouched: Record<string, string> = {};
  for (let j = 0; j < 100; j++) Object.assign(untouched, { [`jobs/still-${j}/config.xml`]: PIPELINE, [`jobs/still-${j}/builds/1/log`]: 'Finished: SUCCESS\n' });
  await putFiles(t.team.environments.blue.container, untouched);
  // The moved job's files must be older than the pre-copy's threshold (two seconds before it starts, on the engine's clock).
  const written = await engineClockMs(docker);
  if (written === null) throw new Error('the Docker engine reports no SystemTime');
  for (let i = 0; i < 100 && ((await engineClockMs(docker)) ?? 0) < written + 4_000; i++) await new Promise((r) => setTimeout(r, 100));
});

afterAll(async () => {
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
});

/** What the build that blue drains for and a user do on blue meanwhile. */
async function changeBlue(): Promise<void> {
  const c = t.team.environments.blue.container;
  await putFiles(c, { 'jobs/app/builds/2/log': 'Finished: SUCCESS\n', 'jobs/app/builds/2/build.xml': '<build/>\n', 'jobs/app/nextBuildNumber': '3\n' });
  await removeFromHome(docker, c, ['jobs/gone', 'jobs/app/builds/1/log', 'jobs/app/builds/permalinks']);
  await putFiles(c, { 'jobs/app/builds/permalinks/lastSuccessfulBuild': '2\n' });
  await execInContainer(docker, c, ['/usr/bin/node', '-e', "require('fs').renameSync('/var/jenkins_home/staging/moved', '/var/jenkins_home/jobs/moved')"]);
  await putFiles(c, { 'jobs/app/builds/7/log': 'Started by user admin\n[Pipeline] migrateRuntimeState\n' });
  await standinControl(t.team, 'blue', { builds: [] });
}

test('every kind of change made while the source drains reaches the target, though only what changed is listed', async () => {
  const events: Array<{ phase: string; message: string }> = [];
  const ctx = { operation: { id: 'op-delta-changes' }, progress: (e: { phase: string; message: string }) => events.push(e), signal: new AbortController().signal } as never;
  await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 2 }] });
  const running = migrateState({ docker, jenkinsFor }, t.team, { source: 'blue', target: 'green', timeoutSec: 60, pollMs: 200, callerBuild: 'app#7' }, ctx).catch((e: unknown) => e);
  // Bounded: the drain waits for app#2 (at most 60 s), so the changes land after the pre-copy and before the delta.
  for (let i = 0; i < 600 && !events.some((e) => e.phase === 'drain'); i++) await new Promise((r) => setTimeout(r, 100));
  expect(events.some((e) => e.phase === 'drain')).toBe(true);
  await changeBlue();
  const r = (await running) as Awaited<ReturnType<typeof migrateState>>;
  expect(r).toMatchObject({ copied: true });
  // Green loaded it: by a reload, or a restart when the copy brought blue's key files (a fresh side has its own).
  expect(r.reloaded || r.restart.restarted).toBe(true);
  // Removed: jobs/gone, builds/1/log, the permalinks file (now a directory).
  expect(r.delta.removed).toBe(3);
  const delta = events.find((e) => e.phase === 'delta')?.message ?? '';
  expect(delta).toMatch(/\(\d+ entries listed as possibly changed\)$/);
  expect(events.some((e) => e.phase === 'delta_listing')).toBe(false);
  const listed = Number(/\((\d+) entries listed/.exec(delta)?.[1]);
  const blueTree = await jobsTree(t.team.environments.blue.container);
  // Listed: the home's own entries, what changed, and the children of the directories that changed (jobs/ holds the hundred untouched jobs' directories, not what is in them).
  expect(listed).toBeLessThan(blueTree.length / 2);
  // All of blue's jobs/ but the running caller's directory, which finishes on blue.
  const callerDir = (e: HomeEntry): boolean => e.path === 'jobs/app/builds/7' || e.path.startsWith('jobs/app/builds/7/');
  expect(blueTree.some(callerDir)).toBe(true);
  expect(await jobsTree(t.team.environments.green.container)).toEqual(blueTree.filter((e) => !callerDir(e)));
  expect(blueTree.map((e) => e.path)).toEqual(expect.arrayContaining(['jobs/moved/config.xml', 'jobs/moved/builds/1/log', 'jobs/app/builds/permalinks/lastSuccessfulBuild', 'jobs/app/builds/2/log']));
  await blue.cancelQuietDown();
});

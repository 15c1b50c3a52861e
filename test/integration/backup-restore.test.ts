import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { createBackup, listBackups, restoreBackup, type BackupDeps } from '../../agent/src/backup/backups';
import { manifestSchema } from '../../agent/src/backup/manifest';
import { startSidecarBackups } from '../../agent/src/backup/sidecar-backups';
import { spawnSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment, type EnvironmentDeps } from '../../agent/src/environments/deploy';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, type TestTeam } from '../support/docker-teams';
import { ensureStandinImage } from '../support/standin-image';

// jest ignores testTimeout inside a project entry of jest.config.js; container starts need more than 5 s.
jest.setTimeout(120_000);
const docker = new Docker();
let db: TestDatabase;
let store: PgStore;
let t: TestTeam;
let root: string;
let deps: BackupDeps;
let envDeps: EnvironmentDeps;
const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";
const FOLDER = "<?xml version='1.1' encoding='UTF-8'?>\n<com.cloudbees.hudson.plugins.folder.Folder plugin=\"cloudbees-folder\"/>\n";

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('backup');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-backup' });
  t = await makeTestTeam({ prefix: 'bak' });
  root = mkdtempSync(join(tmpdir(), 'jsm-backups-'));
  const jenkinsFor = teamJenkinsClientFactory();
  envDeps = { docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } };
  deps = { docker, environments: store.environments, root, jenkinsFor, retention: { keepCount: 10, maxAgeSec: 3600 } };
  await deployEnvironment(envDeps, t.team, { target: 'blue', timeoutSec: 60, replace: true });
  await seedServiceUser(t, 'blue');
  const blue = jenkinsFor(t.team, 'blue');
  await blue.createJob('app', PIPELINE);
  await blue.createJob('Infrastructure', FOLDER);
  await blue.createJob('Infrastructure/backup', PIPELINE);
  const extra = tarPack();
  extra.entry({ name: 'workspace/app/big.bin' }, 'scratch');
  extra.entry({ name: 'caches/git-abc/HEAD' }, 'ref');
  extra.entry({ name: 'jobs/app/builds/1/log' }, 'Finished: SUCCESS\n');
  extra.finalize();
  await docker.getContainer(t.team.environments.blue.container).putArchive(extra as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });
});

afterAll(async () => {
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
  if (root) rmSync(root, { recursive: true, force: true });
});

test('backup.create archives the active side without workspaces and caches, with a manifest of sizes and sha256', async () => {
  const b = await createBackup(deps, t.team, {});
  expect(b.environment).toBe('blue');
  const manifest = manifestSchema.parse(JSON.parse(readFileSync(join(b.path, 'manifest.json'), 'utf8')));
  const paths = manifest.files.map((f) => f.path);
  expect(paths).toEqual(expect.arrayContaining(['config.xml', 'jobs/app/config.xml', 'jobs/Infrastructure/jobs/backup/config.xml', 'jobs/app/builds/1/log', 'users/sidecar/config.xml', 'plugins/git.jpi']));
  expect(paths.filter((p) => p.startsWith('workspace') || p.startsWith('caches'))).toEqual([]);
  expect(manifest.files.every((f) => /^[a-f0-9]{64}$/.test(f.sha256))).toBe(true);
  expect(b.files).toBe(manifest.files.length);
  expect((await listBackups(root, t.team)).map((x) => x.backupId)).toEqual([b.backupId]);
});

test('a backup restores into a fresh volume and the restored Jenkins lists the same jobs', async () => {
  const [latest] = await listBackups(root, t.team);
  expect(await docker.getVolume(`jenkins-${t.team.team_name}-green-home`).inspect().catch(() => null)).toBeNull();
  const r = await restoreBackup(deps, t.team, { backupId: latest.backupId, environment: 'green' });
  expect(r).toMatchObject({ restored: true, environment: 'green', reloaded: false, volume: `jenkins-${t.team.team_name}-green-home` });
  // the helper container is gone
  const helpers = await docker.listContainers({ all: true, filters: JSON.stringify({ name: [`${t.team.environments.green.container}-restore-`] }) });
  expect(helpers).toEqual([]);
  await deployEnvironment(envDeps, t.team, { target: 'green', timeoutSec: 60, replace: true });
  // users/ came back with the backup: the service account works without seeding
  const green = envDeps.jenkinsFor(t.team, 'green');
  const blue = envDeps.jenkinsFor(t.team, 'blue');
  const names = (await green.listJobs()).map((j) => j.fullName).sort();
  expect(names).toEqual((await blue.listJobs()).map((j) => j.fullName).sort());
  expect(names).toEqual(['Infrastructure', 'Infrastructure/backup', 'app']);
});

test('restoring into a running side reloads it', async () => {
  const [latest] = await listBackups(root, t.team);
  const r = await restoreBackup(deps, t.team, { backupId: latest.backupId, environment: 'green' });
  expect(r.reloaded).toBe(true);
});

test('a corrupted archive is detected by its checksum and refused', async () => {
  const b = await createBackup(deps, t.team, { environment: 'blue' });
  const archive = join(b.path, 'home.tar');
  const bytes = readFileSync(archive);
  const at = bytes.indexOf(Buffer.from('flow-definition'));
  expect(at).toBeGreaterThan(0);
  bytes[at] = 'F'.charCodeAt(0);
  writeFileSync(archive, bytes);
  await expect(restoreBackup(deps, t.team, { backupId: b.backupId, environment: 'green' })).rejects.toMatchObject({
    code: 'CONFLICT',
    data: { reason: 'checksum_mismatch' },
    message: expect.stringContaining('integrity check'),
  });
});

test('refuses to restore into the serving side, and unknown or malformed ids', async () => {
  const [latest] = await listBackups(root, t.team);
  await expect(restoreBackup(deps, t.team, { backupId: latest.backupId, environment: 'blue' })).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'target_serving' }, message: expect.stringContaining('carries traffic') });
  await expect(restoreBackup(deps, t.team, { backupId: '../../etc', environment: 'green' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await expect(restoreBackup(deps, t.team, { backupId: 'green-20200101T000000Z-abcdef', environment: 'green' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
});

test('retention keeps the newest backups by count', async () => {
  const small: BackupDeps = { ...deps, retention: { keepCount: 2, maxAgeSec: 3600 } };
  let last = null;
  for (let i = 0; i < 3; i++) last = await createBackup(small, t.team, { environment: 'blue' });
  const left = await listBackups(root, t.team);
  expect(left.length).toBe(2);
  expect(left[0].backupId).toBe(last?.backupId);
  expect(existsSync(join(root, t.team.team_name))).toBe(true);
});

test('the sidecar\'s scheduled backup backs up the active side and sets the last-success gauge (promtool-clean)', async () => {
  const registry = new Registry();
  const before = (await listBackups(root, t.team)).length;
  const s = startSidecarBackups({ docker, environments: store.environments, teams: () => [t.team], root, registry, retention: { keepCount: 10, maxAgeSec: 3600 } });
  expect(s).not.toBeNull();
  await s?.runOnce();
  await s?.stop();
  expect((await listBackups(root, t.team)).length).toBe(before + 1);
  const text = await registry.metrics();
  expect(text).toMatch(new RegExp(`sidecar_backup_last_success_timestamp_seconds\\{team="${t.team.team_name}"\\} \\d{10}`));
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  expect([check.status, check.stdout + check.stderr]).toEqual([0, '']);
});

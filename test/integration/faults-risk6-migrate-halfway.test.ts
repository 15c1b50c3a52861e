import { once } from 'node:events';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { listArchive, listSelectedEntries, type HomeEntry } from '../../agent/src/docker/archive';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { restoreTargetHome } from '../../agent/src/environments/target-snapshot';
import { selectForMigration } from '../../agent/src/jenkins/home-layout';
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
 * while the migration waits for the source to go idle (before anything is
 * copied); the source container is removed while a large copy streams.
 * Whenever the copy had started, the target's JENKINS_HOME ends byte-for-byte
 * as it was before (every path, kind, digest and link), a file the copy
 * overwrote and one it added included. Always the source's quiet-down is
 * cancelled, the error names what failed and what became of the target, the
 * journal ends the operation, nothing stays in flight and the audit records
 * the failure.
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
const describedPipeline = (text: string): string => PIPELINE.replace('<definition/>', `<description>${text}</description><definition/>`);

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
  // Green already holds blue's key files, as after an earlier migration: these cases exercise the reload
  // (a copy that changes secrets/ restarts the target instead: migrate-secrets-restart.test.ts).
  const keys = await docker.getContainer(t.team.environments.blue.container).getArchive({ path: '/var/jenkins_home/secrets' });
  await docker.getContainer(t.team.environments.green.container).putArchive(keys, { path: '/var/jenkins_home' });
  await docker.getContainer(t.team.environments.green.container).restart({ t: 5 });
  ok(await rpc.call('environment.deploy', { team, target: 'green', timeoutSec: 60, replace: false })); // waits until it is healthy again
  const jenkinsFor = teamJenkinsClientFactory();
  blue = jenkinsFor(t.team, 'blue');
  await blue.createJob('app', PIPELINE);
  // A job both sides have with different bytes: the copy overwrites green's. Green also has a job blue lacks: the copy leaves it.
  await blue.createJob('shared', describedPipeline('from blue'));
  const green = jenkinsFor(t.team, 'green');
  await green.createJob('shared', describedPipeline('green\'s own'));
  await green.createJob('green-only', PIPELINE);
});

afterAll(async () => {
  rpc?.ws.close();
  await sc?.stop();
  await t?.cleanup(docker);
  await db?.drop();
});

/** Every entry of a container's JENKINS_HOME (path, kind, sha256 of files, symlink targets), read through the archive API, sorted. */
async function homeListing(container: string): Promise<HomeEntry[]> {
  const entries = await listSelectedEntries(await docker.getContainer(container).getArchive({ path: '/var/jenkins_home' }), 'jenkins_home', () => true);
  return entries.sort((a, b) => a.path.localeCompare(b.path));
}

const digestOf = (home: HomeEntry[], path: string): string | undefined => home.find((e) => e.path === path)?.sha256;

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

/** The journal of a failed migration holds a done snapshot_target, and restore_target (done) before cancel_quiet_down_source. */
async function expectRestoreJournaled(operationId: string): Promise<void> {
  const op = ok(await rpc.call('operation.get', { operationId })) as { steps: Array<{ name: string; outcome: string; intent: Record<string, unknown> }> };
  const names = op.steps.map((s) => s.name);
  expect(op.steps.find((s) => s.name === 'snapshot_target')).toMatchObject({ outcome: 'done', intent: { environment: 'green' } });
  expect(op.steps.find((s) => s.name === 'restore_target')).toMatchObject({ outcome: 'done', intent: { environment: 'green', container: t.team.environments.green.container } });
  expect(names.indexOf('restore_target')).toBeLessThan(names.indexOf('cancel_quiet_down_source'));
}

test('the target fails its reload after the copy: green is put back byte for byte, the error names the reload and says green was restored, the source is no longer quieting down', async () => {
  const green = t.team.environments.green.container;
  const before = await homeListing(green);
  const blueHome = await homeListing(t.team.environments.blue.container);
  // The setup the assertions rely on: the copy overwrites jobs/shared/config.xml and adds jobs/app.
  expect(digestOf(before, 'jobs/shared/config.xml')).toBeDefined();
  expect(digestOf(before, 'jobs/shared/config.xml')).not.toBe(digestOf(blueHome, 'jobs/shared/config.xml'));
  expect(before.some((e) => e.path === 'jobs/app')).toBe(false);
  expect(await greenHasJob('app')).toBe(false);

  await standinControl(t.team, 'green', { unhealthy: true }); // answers 503 from here on, as a controller failing to reload
  const progress: Array<Record<string, unknown>> = [];
  const r = await rpc.call('state.migrate', { team, source: 'blue', target: 'green', timeoutSec: 20 }, (p) => progress.push(p));
  await standinControl(t.team, 'green', { unhealthy: false });
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.error.message).toContain(`${team}/green`);
  expect(r.error.message).toContain('POST /reload');
  expect(r.error.message).toContain(`${team}/green was restored to its state before the copy`);
  expect(r.error.data).toMatchObject({ code: 'DEPENDENCY_DOWN', httpStatus: 503, targetRestored: true });
  // The copy did write (it reported what it overwrote and added) and the restore undid exactly that.
  expect(progress.find((p) => p.phase === 'copied')).toMatchObject({ overwrote: expect.any(Number), added: expect.any(Number) });
  expect(Number(progress.find((p) => p.phase === 'copied')?.added)).toBeGreaterThan(0);
  const after = await homeListing(green);
  expect(after).toEqual(before);
  expect(digestOf(after, 'jobs/shared/config.xml')).toBe(digestOf(before, 'jobs/shared/config.xml'));
  expect(after.some((e) => e.path.startsWith('jobs/app'))).toBe(false);
  // The saved state lived under the sidecar's data dir and is gone once the target is back.
  const archive = String(progress.find((p) => p.phase === 'snapshot')?.archive);
  expect(archive.startsWith(join(sc.dir, 'data', 'migrate-snapshots'))).toBe(true);
  expect(existsSync(archive)).toBe(false);
  const phases = progress.map((p) => p.phase);
  expect(phases).toEqual(expect.arrayContaining(['quiet_down', 'snapshot', 'copy', 'copied', 'reload', 'restore_target', 'target_restored', 'cancel_quiet_down']));
  expect(phases.indexOf('target_restored')).toBeLessThan(phases.indexOf('cancel_quiet_down'));
  expect((await blue.root()).quietingDown).toBe(false);
  const operationId = String(r.error.data?.operationId ?? progress[0]?.operationId);
  await expectRestoreJournaled(operationId);
  await expectEndedCleanly(operationId);
});

test('the target container is removed while the migration waits for the source: the error names the container and the kept pre-copy state, the source is no longer quieting down', async () => {
  const green = t.team.environments.green.container;
  const before = await homeListing(green);
  await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 3, oneOff: false }] });
  const progress: Array<Record<string, unknown>> = [];
  const running = rpc.call('state.migrate', { team, source: 'blue', target: 'green', timeoutSec: 20 }, (p) => progress.push(p));
  for (let i = 0; i < 100 && !progress.some((p) => p.phase === 'drain'); i++) await new Promise((r) => setTimeout(r, 100));
  expect(progress.some((p) => p.phase === 'drain')).toBe(true);
  expect((await blue.root()).quietingDown).toBe(true);
  await docker.getContainer(green).remove({ force: true });
  await standinControl(t.team, 'blue', { builds: [] });
  const r = await running;
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.error.message).toContain(green);
  // The pre-copy had written into green's volume before blue was quieted; the delta is what finds the container gone.
  expect(r.error.data?.action).toBe(`write the delta into /var/jenkins_home of ${green}`);
  // A removed container is NOT_FOUND naming it, not "Docker engine down".
  expect(r.error.data).toMatchObject({ code: 'NOT_FOUND', container: green, targetRestored: false });
  expect(r.error.message).toContain('no longer exists');
  expect(r.error.message).not.toContain('Docker engine');
  // Without a container the sidecar cannot put the volume back: the error keeps the saved state and says how.
  expect(r.error.message).toContain(`RESTORING ${team}/green FAILED`);
  const archive = String(r.error.data?.targetArchive);
  expect(existsSync(archive)).toBe(true);
  expect(progress.map((p) => p.phase)).toContain('cancel_quiet_down');
  expect((await blue.root()).quietingDown).toBe(false);
  await expectEndedCleanly(String(r.error.data?.operationId ?? progress[0]?.operationId));
  // What the message tells an operator: redeploy, then write the kept state back; green is as before the migration.
  ok(await rpc.call('environment.deploy', { team, target: 'green', timeoutSec: 60 }));
  await restoreTargetHome(docker, green, selectForMigration({ includeBuilds: true }), archive);
  expect(await homeListing(green)).toEqual(before);
  rmSync(archive, { force: true });
});

test('the source container is removed once the copy started: green is put back byte for byte and the error says so', async () => {
  // Green again (the previous case removed its container; the volume stays), then 32 MiB of build history on blue so the copy takes a moment.
  ok(await rpc.call('environment.deploy', { team, target: 'green', timeoutSec: 60 }));
  await seedServiceUser(t, 'green');
  await standinControl(t.team, 'blue', { builds: [] });
  const size = 32 * 1024 * 1024;
  const green = t.team.environments.green.container;
  await docker.getContainer(t.team.environments.blue.container).putArchive(bigTar(size) as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });
  const before = await homeListing(green);
  expect(before.some((e) => e.path === 'jobs/app')).toBe(false);
  // Green takes 5 s to reload: however fast the copy, the removal lands before the migration's last look at blue.
  await standinControl(t.team, 'green', { reloadMs: 5000 });

  const progress: Array<Record<string, unknown>> = [];
  const running = rpc.call('state.migrate', { team, source: 'blue', target: 'green', timeoutSec: 30, includeBuilds: true }, (p) => progress.push(p));
  for (let i = 0; i < 300 && !progress.some((p) => p.phase === 'copy'); i++) await new Promise((r) => setTimeout(r, 50));
  expect(progress.some((p) => p.phase === 'copy')).toBe(true);
  await docker.getContainer(t.team.environments.blue.container).remove({ force: true });
  const r = await running;
  expect(r.ok).toBe(false);
  if (r.ok) return;
  // Wherever the removal caught it (usually Docker finishes streaming the removed container's volume and the job check after the reload fails; a copy broken mid-stream is in migrate-state.test.ts), green had been written into and is back.
  expect(r.error.message).toContain(`${team}/green was restored to its state before the copy`);
  expect(r.error.data).toMatchObject({ targetRestored: true });
  expect(await homeListing(green)).toEqual(before);
  expect(progress.map((p) => p.phase)).toEqual(expect.arrayContaining(['snapshot', 'copy', 'restore_target', 'target_restored', 'cancel_quiet_down']));
  const operationId = String(r.error.data?.operationId ?? progress[0]?.operationId);
  await expectRestoreJournaled(operationId);
  expect(ok(await rpc.call('operation.get', { operationId }))).toMatchObject({ status: 'failed' });
  expect(ok(await rpc.call('lock.list', { team }))).toEqual({ locks: [] });
});

/** A tar stream holding one file of `size` zero bytes as blue's build log, written in 1 MiB chunks (never whole in memory). */
function bigTar(size: number): Readable {
  const pack = tarPack();
  const sink = pack.entry({ name: 'jobs/app/builds/1/log', size }, (err) => (err ? pack.destroy(err) : pack.finalize()));
  const chunk = Buffer.alloc(1024 * 1024);
  void (async () => {
    for (let left = size; left > 0; left -= chunk.length) {
      if (!sink.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await once(sink, 'drain');
    }
    sink.end(Buffer.alloc(0));
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

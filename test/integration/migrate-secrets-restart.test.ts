import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { listArchive } from '../../agent/src/docker/archive';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import type { EnvironmentDeps } from '../../agent/src/environments/deploy';
import { migrateState, type MigrateDeps } from '../../agent/src/environments/migrate';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { deployBothWithServiceUser, makeTestTeam, standinControl, TEST_JENKINS_USER, type TestTeam } from '../support/docker-teams';
import { agentHandshake, agentSecret } from '../support/inbound-agent';
import { ensureStandinImage } from '../support/standin-image';

/**
 * A migration whose copy changes the target's secrets/ restarts the target
 * instead of reloading it: a running Jenkins keeps the master key it started
 * with (agent/src/environments/target-restart.ts cites the core classes), so
 * only after a restart does it accept an inbound agent with the secret the
 * source gave it. Stand-in controllers in Docker, their containers really
 * restarted; a target that carries traffic is refused and restored instead.
 */
jest.setTimeout(180_000);
const docker = new Docker();
const jenkinsFor = teamJenkinsClientFactory();
const KEY_FILE = 'secrets/jenkins.slaves.JnlpSlaveAgentProtocol.secret';
let db: TestDatabase;
let store: PgStore;
let t: TestTeam;
let deps: MigrateDeps;

type Events = Array<{ phase: string; message: string }>;
/** A journaled state.migrate operation whose progress lines land in `events`. */
async function journaledCtx(events: Events): Promise<{ id: string; ctx: never }> {
  const { operation } = await store.journal.begin({ type: 'state.migrate', team: t.team.team_name, params: {}, actor: { tokenId: 'ci', instanceId: 'test-migrate-secrets' } });
  const ctx = { operation, progress: (e: { phase: string; message: string }) => events.push(e), signal: new AbortController().signal } as never;
  return { id: operation.id, ctx };
}

async function startedAt(env: 'blue' | 'green'): Promise<string> {
  return (await docker.getContainer(t.team.environments[env].container).inspect()).State.StartedAt;
}

/** The sha256 of a file of a controller's home as it is on disk (the archive API; 404 when it is not there). */
async function homeFile(env: 'blue' | 'green', rel: string): Promise<string> {
  const files = await listArchive(await docker.getContainer(t.team.environments[env].container).getArchive({ path: `/var/jenkins_home/${rel}` }));
  expect(files).toHaveLength(1);
  return files[0].sha256;
}

const headers = (name: string, secret: string): Record<string, string> => ({ 'Node-Name': name, 'Secret-Key': secret, 'X-Remoting-Capability': 'test' });

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('migsecrets');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-migrate-secrets' });
  t = await makeTestTeam({ prefix: 'mgs' });
  const envDeps: EnvironmentDeps = { docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } };
  await deployBothWithServiceUser(envDeps, t);
  deps = { docker, jenkinsFor, journal: store.journal, environments: store.environments };
});

afterAll(async () => {
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
});

test('secrets/ copied into green: green is restarted, not reloaded, and accepts the agent with the secret blue issued', async () => {
  await standinControl(t.team, 'blue', { nodes: [{ name: 'linux-1', labels: ['linux'] }] });
  const secret = await agentSecret(t.team.environments.blue.url.replace(/\/+$/, ''), TEST_JENKINS_USER, t.token, 'linux-1');
  const before = await startedAt('green');
  const events: Events = [];
  const op = await journaledCtx(events);
  const r = await migrateState(deps, t.team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200 }, op.ctx);
  await store.journal.finish(op.id, 'succeeded', r);
  await jenkinsFor(t.team, 'blue').cancelQuietDown();
  const steps = (await store.journal.get(op.id))?.steps ?? [];
  expect(steps.filter((x) => x.name === 'restart_target' || x.name === 'reload_target').map((x) => [x.name, x.outcome])).toEqual([['restart_target', 'done']]);
  expect(r.restart).toMatchObject({ restarted: true });
  expect(r.restart.secrets).toEqual(expect.arrayContaining(['secrets/master.key', KEY_FILE]));
  expect(r.restart.reason).toContain('master key');
  expect(r.reloaded).toBe(false);
  expect(await startedAt('green')).not.toBe(before);
  const phases = events.map((e) => e.phase);
  expect(phases).toEqual(expect.arrayContaining(['restart', 'restarted', 'done']));
  expect(phases).not.toContain('reload');
  expect(await agentHandshake(t.team.environments.green.url.replace(/\/*$/, '/'), headers('linux-1', secret))).toBe(101);
  expect(await agentSecret(t.team.environments.green.url.replace(/\/+$/, ''), TEST_JENKINS_USER, t.token, 'linux-1')).toBe(secret);
  // Green started on the copied key and kept it (it did not make one of its own).
  expect(await homeFile('green', KEY_FILE)).toBe(await homeFile('blue', KEY_FILE));
});

test('a migration that leaves secrets/ as green has them does not restart green', async () => {
  await standinControl(t.team, 'blue', { nodes: [{ name: 'linux-2', labels: ['linux'] }] });
  const before = await startedAt('green');
  const r = await migrateState(deps, t.team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200 });
  await jenkinsFor(t.team, 'blue').cancelQuietDown();
  expect(r.restart).toEqual({ restarted: false, reason: null, secrets: [], sec: 0 });
  expect(r.reloaded).toBe(true); // nodes/linux-2 is new: a reload reads it
  expect(await startedAt('green')).toBe(before);
});

test('a target that carries traffic is not restarted: CONFLICT, and green is restored as it was', async () => {
  // A new key file on blue (as a plugin makes one the first time it needs it).
  const extra = tarPack();
  extra.entry({ name: 'jenkins_home/secrets/org.example.PluginKey', mode: 0o600 }, 'not-a-real-key\n');
  extra.finalize();
  await docker.getContainer(t.team.environments.blue.container).putArchive(extra as unknown as NodeJS.ReadableStream, { path: '/var' });
  await store.environments.setDesiredWeights(t.team.team_name, { blue: 50, green: 50 });
  const before = await startedAt('green');
  try {
    const err = (await migrateState(deps, t.team, { source: 'blue', target: 'green', timeoutSec: 30, pollMs: 200 }).catch((e: unknown) => e)) as { code: string; message: string; data: Record<string, unknown> };
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toMatch(/must restart to use the copied key files.*carries traffic/);
    expect(err.data).toMatchObject({ targetRestored: true, secrets: ['secrets/org.example.PluginKey'] });
    expect(await startedAt('green')).toBe(before);
    await expect(homeFile('green', 'secrets/org.example.PluginKey')).rejects.toMatchObject({ statusCode: 404 });
    expect((await jenkinsFor(t.team, 'blue').root()).quietingDown).toBe(false);
  } finally {
    await store.environments.setDesiredWeights(t.team.team_name, { blue: 100, green: 0 });
  }
});

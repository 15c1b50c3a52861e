import Docker from 'dockerode';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { executeCoordinated, type CoordinatedDeps } from '../../agent/src/environments/coordinated-rollout';
import { deployEnvironment } from '../../agent/src/environments/deploy';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, standinControl, type TestTeam } from '../support/docker-teams';
import { ensureStandinImage, standinImageNames } from '../support/standin-image';

// coordination.execute's rollout on real containers and Postgres (traffic switching itself is tested in traffic-*.test.ts).
jest.setTimeout(120_000);
const docker = new Docker();
let db: TestDatabase;
let store: PgStore;
let t: TestTeam;
let deps: CoordinatedDeps;

function ctx(events: string[], build?: string): never {
  return {
    operation: { id: `op-${Math.random().toString(16).slice(2)}` },
    actor: { tokenId: 'test', instanceId: 'i', ...(build ? { build } : {}) },
    progress: (e: { phase: string; message: string }) => events.push(`${e.phase}: ${e.message}`),
    signal: new AbortController().signal,
  } as never;
}

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('coord');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-coord' });
  t = await makeTestTeam({ prefix: 'coo' });
  const jenkinsFor = teamJenkinsClientFactory();
  deps = { docker, store, jenkinsFor, networking: { mode: 'host' } };
  await deployEnvironment({ docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } }, t.team, { target: 'blue', timeoutSec: 60, replace: true });
  await seedServiceUser(t, 'blue');
  await jenkinsFor(t.team, 'blue').createJob('app', '<flow-definition/>');
});

afterAll(async () => {
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
});

test('version_upgrade without switching: the idle side runs the new image with blue\'s jobs, validated; blue keeps serving and is no longer quiet', async () => {
  const events: string[] = [];
  const r = await executeCoordinated(deps, [t.team], { operation: 'version_upgrade', details: { image: standinImageNames().v2 }, switchTraffic: false, timeoutSec: 30, validationSec: 5 }, ctx(events));
  expect(r.outcomes).toEqual([{ team: t.team.team_name, status: 'succeeded', from: 'blue', to: 'green', image: standinImageNames().v2, jobs: 1, validated: true, switched: false }]);
  const green = await fetch(`${t.team.environments.green.url}/login`);
  expect(green.headers.get('x-jenkins')).toBe('2.452.2');
  expect((await deps.jenkinsFor(t.team, 'green').listJobs()).map((j) => j.fullName)).toEqual(['app']);
  expect((await deps.jenkinsFor(t.team, 'blue').root()).quietingDown).toBe(false);
  expect((await store.environments.get(t.team.team_name))?.weights).toEqual({ blue: 100, green: 0 });
  expect(events.some((e) => e.startsWith('check: job_restoration: pass'))).toBe(true);
});

test('a failing team stops the rollout: later teams are skipped, blue\'s quiet-down is cancelled, the breaker counts it', async () => {
  const other = await makeTestTeam({ prefix: 'coo2' });
  try {
    await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 3 }] });
    const err = await executeCoordinated(deps, [t.team, other.team], { operation: 'plugin_update', details: {}, switchTraffic: false, timeoutSec: 2, validationSec: 5 }, ctx([])).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT', data: { outcomes: [{ team: t.team.team_name, status: 'failed', error: { code: 'TIMEOUT' } }, { team: other.team.team_name, status: 'skipped' }] } });
    expect((err as Error).message).toContain('app#3');
    expect((await deps.jenkinsFor(t.team, 'blue').root()).quietingDown).toBe(false);
    expect((await store.breakers.status(`infrastructure_modification:${t.team.team_name}`)).failures).toBeGreaterThanOrEqual(1);
  } finally {
    await standinControl(t.team, 'blue', { builds: [] });
    await other.cleanup(docker);
  }
});

test('switching without a traffic driver fails after validation and gives blue its executors back', async () => {
  const err = await executeCoordinated(deps, [t.team], { operation: 'configuration_change', details: {}, switchTraffic: true, timeoutSec: 30, validationSec: 5 }, ctx([])).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'DEPENDENCY_DOWN', data: { outcomes: [{ status: 'failed', validated: true }] } });
  expect((err as Error).message).toContain('switchTraffic:false');
  expect((await deps.jenkinsFor(t.team, 'blue').root()).quietingDown).toBe(false);
});

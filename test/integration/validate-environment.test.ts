import Docker from 'dockerode';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment } from '../../agent/src/environments/deploy';
import { validateEnvironment, type ValidateDeps } from '../../agent/src/environments/validate';
import type { ValidationCheckName } from '../../agent/src/environments/validate-checks';
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
let deps: ValidateDeps;
const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('validate');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-validate' });
  t = await makeTestTeam({ prefix: 'val', requiredAgents: ['agent-1'] });
  const jenkinsFor = teamJenkinsClientFactory();
  for (const env of ['blue', 'green'] as const) {
    await deployEnvironment({ docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } }, t.team, { target: env, timeoutSec: 60, replace: true });
    await seedServiceUser(t, env);
    await standinControl(t.team, env, { agents: [{ name: 'agent-1', offline: false }] });
    await jenkinsFor(t.team, env).createJob('app', PIPELINE);
  }
  deps = { docker, jenkinsFor, environments: store.environments };
});

afterAll(async () => {
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
});

async function validateGreen(extra: Partial<Parameters<typeof validateEnvironment>[2]> = {}, d: ValidateDeps = deps) {
  const r = await validateEnvironment(d, t.team, { environment: 'green', ...extra });
  const by = Object.fromEntries(r.checks.map((c) => [c.name, c])) as Record<ValidationCheckName, (typeof r.checks)[number]>;
  return { r, by };
}

async function waitForDockerHealth(want: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const info = await docker.getContainer(t.team.environments.green.container).inspect();
    if (info.State.Health?.Status === want) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`green never became ${want}`);
}

test('all six checks pass on a healthy green that has blue\'s jobs, plugins and agents', async () => {
  const { r } = await validateGreen();
  expect(r.source).toBe('blue');
  expect(r.checks.map((c) => [c.name, c.passed])).toEqual([
    ['container_health', true],
    ['api_responsiveness', true],
    ['job_restoration', true],
    ['plugin_compatibility', true],
    ['user_access', true],
    ['agent_connectivity', true],
  ]);
  expect(r.passed).toBe(true);
  expect(r.checks.find((c) => c.name === 'agent_connectivity')?.figure).toBe('1/1');
});

test('container_health fails for an unhealthy container', async () => {
  await standinControl(t.team, 'green', { unhealthy: true });
  try {
    await waitForDockerHealth('unhealthy');
    const { r, by } = await validateGreen({ checks: ['container_health'] });
    expect(r.passed).toBe(false);
    expect(by.container_health).toMatchObject({ passed: false, figure: 'unhealthy' });
    expect(by.container_health.reason).toContain('unhealthy');
  } finally {
    await standinControl(t.team, 'green', { unhealthy: false });
    await waitForDockerHealth('healthy');
  }
});

test('api_responsiveness fails for a slow API and reports its time', async () => {
  await standinControl(t.team, 'green', { slowMs: 700 });
  try {
    const { by } = await validateGreen({ checks: ['api_responsiveness', 'user_access'], apiThresholdMs: 300 });
    expect(by.api_responsiveness.passed).toBe(false);
    expect(Number(by.api_responsiveness.figure)).toBeGreaterThanOrEqual(700);
    expect(by.api_responsiveness.reason).toContain('over the 300 ms threshold');
    expect(by.user_access.passed).toBe(true);
  } finally {
    await standinControl(t.team, 'green', { slowMs: 0 });
  }
});

test('job_restoration fails for a job the source has and the target lacks', async () => {
  await deps.jenkinsFor(t.team, 'blue').createJob('only-on-blue', PIPELINE);
  const { r, by } = await validateGreen();
  expect(by.job_restoration).toMatchObject({ passed: false, figure: '1/2' });
  expect(by.job_restoration.reason).toContain('only-on-blue');
  expect(r.checks.filter((c) => !c.passed).map((c) => c.name)).toEqual(['job_restoration']);
  await deps.jenkinsFor(t.team, 'green').createJob('only-on-blue', PIPELINE);
});

test('plugin_compatibility fails for a plugin that failed to load (absent from the API)', async () => {
  await standinControl(t.team, 'green', { failedPlugins: ['git'] });
  try {
    const { r, by } = await validateGreen();
    expect(by.plugin_compatibility.passed).toBe(false);
    expect(by.plugin_compatibility.reason).toContain('failed to load: git');
    expect(r.checks.filter((c) => !c.passed).map((c) => c.name)).toEqual(['plugin_compatibility']);
  } finally {
    await standinControl(t.team, 'green', { failedPlugins: [] });
  }
});

test('user_access fails for a wrong token', async () => {
  const wrong: ValidateDeps = { ...deps, jenkinsFor: teamJenkinsClientFactory({ readToken: () => 'not-the-token' }) };
  const { by } = await validateGreen({ checks: ['user_access'] }, wrong);
  expect(by.user_access).toMatchObject({ passed: false, figure: 'rejected' });
  expect(by.user_access.reason).toContain('401');
  expect(by.user_access.reason).toContain('jenkins_token_file');
});

test('agent_connectivity fails for an offline required agent', async () => {
  await standinControl(t.team, 'green', { agents: [{ name: 'agent-1', offline: true }] });
  try {
    const { r, by } = await validateGreen();
    expect(by.agent_connectivity).toMatchObject({ passed: false, figure: '0/1' });
    expect(by.agent_connectivity.reason).toContain('offline: agent-1');
    expect(r.checks.filter((c) => !c.passed).map((c) => c.name)).toEqual(['agent_connectivity']);
  } finally {
    await standinControl(t.team, 'green', { agents: [{ name: 'agent-1', offline: false }] });
  }
});

import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import Docker from 'dockerode';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment } from '../../agent/src/environments/deploy';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, standinControl, TEST_JENKINS_USER, type TestTeam } from '../support/docker-teams';
import { eventually } from '../support/eventually';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { startLoad } from '../support/haproxy-load';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { RpcClient } from '../support/sidecar-process-rpc';
import { ensureStandinImage } from '../support/standin-image';

/**
 * Webhooks through a whole switch: stand-in controllers in Docker (a queue
 * that webhooks fill and quiet-down holds), the generated haproxy.cfg on a
 * real haproxy, a real jenkins-sidecar doing state.migrate and traffic.switch.
 * Each delivery carries its own id as the build parameter DELIVERY; after the
 * switch every id has exactly one build, on the side that serves.
 */
jest.setTimeout(240_000);
const docker = new Docker();
const SECRET = `ops-${Math.random().toString(16).slice(2)}-secret`;
const GWT_TOKEN = `gwt-${Math.random().toString(16).slice(2)}`;
const BUILD_TOKEN = `bt-${Math.random().toString(16).slice(2)}`;
// A Pipeline with a remote build token, a string parameter, and a generic-webhook-trigger taking it from the request.
const JOB = `<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job">
  <properties>
    <hudson.model.ParametersDefinitionProperty><parameterDefinitions><hudson.model.StringParameterDefinition><name>DELIVERY</name><defaultValue>none</defaultValue></hudson.model.StringParameterDefinition></parameterDefinitions></hudson.model.ParametersDefinitionProperty>
    <org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty><triggers>
      <org.jenkinsci.plugins.gwt.GenericTrigger plugin="generic-webhook-trigger"><genericRequestVariables><org.jenkinsci.plugins.gwt.GenericRequestVariable><key>DELIVERY</key><regexpFilter></regexpFilter></org.jenkinsci.plugins.gwt.GenericRequestVariable></genericRequestVariables><token>${GWT_TOKEN}</token></org.jenkinsci.plugins.gwt.GenericTrigger>
    </triggers></org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty>
  </properties>
  <definition/>
  <authToken>${BUILD_TOKEN}</authToken>
</flow-definition>
`;

let db: TestDatabase;
let store: PgStore;
let t: TestTeam;
let hap: HaproxyProcess;
let sidecar: SidecarProcess;
let client: RpcClient;
const jenkinsFor = teamJenkinsClientFactory();

interface Answer {
  status: number;
  env: string | undefined;
}

function http(method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: hap.httpPort, method, path, headers: { Host: t.team.team_name, ...headers }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, env: res.headers['x-jenkins-environment'] as string | undefined }));
    });
    req.on('timeout', () => req.destroy(new Error('haproxy did not answer within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

const basic = (): string => `Basic ${Buffer.from(`${TEST_JENKINS_USER}:${t.token}`).toString('base64')}`;

/** A webhook as GitHub-style senders deliver it (generic-webhook-trigger), or a CI system's token-triggered build. */
async function deliver(id: string, how: 'webhook' | 'build'): Promise<Answer> {
  const a =
    how === 'webhook'
      ? await http('POST', `/generic-webhook-trigger/invoke?token=${GWT_TOKEN}&DELIVERY=${id}`)
      : await http('POST', `/job/app/buildWithParameters?token=${BUILD_TOKEN}&DELIVERY=${id}&delay=0sec`, { Authorization: basic() });
  expect(a.status).toBe(how === 'webhook' ? 200 : 201);
  return a;
}

/** Build numbers per DELIVERY on one controller, read from its REST API (Job builds, Run actions). */
async function buildsBy(env: 'blue' | 'green'): Promise<Map<string, number[]>> {
  const base = t.team.environments[env].url;
  const get = async (path: string): Promise<Record<string, unknown>> => (await fetch(`${base}${path}`, { headers: { Authorization: basic() } })).json() as Promise<Record<string, unknown>>;
  const job = (await get('/job/app/api/json')) as { builds?: Array<{ number: number }> };
  const out = new Map<string, number[]>();
  for (const b of job.builds ?? []) {
    const run = (await get(`/job/app/${b.number}/api/json`)) as { actions: Array<{ parameters?: Array<{ name: string; value: string }> }> };
    const id = run.actions.flatMap((a) => a.parameters ?? []).find((p) => p.name === 'DELIVERY')?.value ?? 'none';
    out.set(id, [...(out.get(id) ?? []), b.number]);
  }
  return out;
}

async function queued(env: 'blue' | 'green'): Promise<Array<{ id: number; why?: string | null; params?: string }>> {
  return jenkinsFor(t.team, env).queueWithParameters();
}

async function triggerWeights(): Promise<Record<string, number>> {
  const stats = await hap.runtime.showStat();
  return Object.fromEntries(stats.filter((s) => s.backend === `jenkins_triggers_${t.team.team_name}`).map((s) => [s.server, s.weight]));
}

async function switchTo(target: 'blue' | 'green', params: Record<string, unknown>): Promise<{ result?: unknown; error?: { code: number; message: string; data?: Record<string, unknown> } }> {
  const lock = await client.call('lock.acquire', { team: t.team.team_name, operation: 'blue_green_switch', ttlSec: 600, owner: `triggers/switch#${target}` });
  const token = (lock.result as { token: number }).token;
  try {
    return (await client.call('traffic.switch', { team: t.team.team_name, target, lockToken: token, ...params }, 120_000)) as never;
  } finally {
    await client.call('lock.release', { team: t.team.team_name, operation: 'blue_green_switch', token }).catch(() => undefined);
  }
}

/** Exactly one build per delivery over both controllers (a migrated build is the same number on both), and on `side`. */
async function expectOneBuildEach(ids: string[], side: 'blue' | 'green'): Promise<void> {
  const [blue, green] = await Promise.all([buildsBy('blue'), buildsBy('green')]);
  for (const id of ids) {
    const numbers = new Set([...(blue.get(id) ?? []), ...(green.get(id) ?? [])]);
    expect({ id, builds: numbers.size }).toEqual({ id, builds: 1 });
    expect({ id, on: side, builds: (side === 'blue' ? blue : green).get(id)?.length ?? 0 }).toEqual({ id, on: side, builds: 1 });
  }
}

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('trig');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-triggers' });
  t = await makeTestTeam({ prefix: 'trg' });
  for (const env of ['blue', 'green'] as const) {
    await deployEnvironment({ docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } }, t.team, { target: env, timeoutSec: 60, replace: true });
    await seedServiceUser(t, env);
  }
  await jenkinsFor(t.team, 'blue').createJob('app', JOB);
  hap = await startHaproxy([t.team], { checkIntervalMs: 200 });
  sidecar = await startSidecarProcess({
    databaseUrl: db.url,
    instanceId: `trig-${Math.random().toString(16).slice(2, 8)}`,
    tokens: [{ id: 'ops', teams: ['*'], secret: SECRET }],
    teamsYaml: readFileSync(t.teamsFile, 'utf8'),
    env: { SIDECAR_HAPROXY_SOCKET: hap.socketPath },
  });
  client = await RpcClient.connect(sidecar.rpcUrl, SECRET);
});

afterAll(async () => {
  await client?.close();
  await sidecar?.stop().catch(() => undefined);
  await hap?.stop();
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
});

test('haproxy sends every webhook and token-triggered build to the triggers server, whatever cookie it carries; a person\'s own POST stays on the web backend', async () => {
  const { blue, green } = t.team.environments;
  // Triggers to green while the web backend keeps blue at 100.
  await hap.runtime.setWeights([{ backend: `jenkins_triggers_${t.team.team_name}`, server: green.server, weight: 1 }]);
  await hap.runtime.setWeights([{ backend: `jenkins_triggers_${t.team.team_name}`, server: blue.server, weight: 0 }]);
  try {
    const pinnedToBlue = { Cookie: `JSM_${t.team.team_name}=blue` };
    for (const [method, path, headers] of [
      ['POST', '/github-webhook/', pinnedToBlue],
      ['GET', '/git/notifyCommit?url=https://scm.example/repo.git', {}],
      ['POST', '/bitbucket-hook/', {}],
      ['POST', '/project/app', {}],
      ['POST', '/generic-webhook-trigger/invoke?token=nope', pinnedToBlue],
      ['POST', '/job/app/build?token=x', {}],
      ['POST', '/job/app/buildWithParameters', { Authorization: basic(), ...pinnedToBlue }],
      ['POST', `/${t.team.team_name}/job/app/buildWithParameters?token=x`, {}],
    ] as Array<[string, string, Record<string, string>]>) {
      expect({ method, path, env: (await http(method, path, headers)).env }).toEqual({ method, path, env: 'green' });
    }
    // Not triggers: a person's POST without a token or credentials, a GET of a job page, a path that only starts like one.
    for (const [method, path] of [
      ['POST', '/job/app/build'],
      ['GET', '/job/app/build?token=x'],
      ['GET', '/job/app/'],
      ['POST', '/job/app/buildTimeTrend?token=x'],
      ['GET', '/github-webhooks'],
    ]) {
      expect({ method, path, env: (await http(method, path, pinnedToBlue)).env }).toEqual({ method, path, env: 'blue' });
    }
  } finally {
    await hap.runtime.setWeights([{ backend: `jenkins_triggers_${t.team.team_name}`, server: blue.server, weight: 1 }]);
    await hap.runtime.setWeights([{ backend: `jenkins_triggers_${t.team.team_name}`, server: green.server, weight: 0 }]);
  }
});

test('the stand-in refuses triggers as Jenkins does: an unknown token, a wrong build token, an unknown job, an anonymous POST without a crumb', async () => {
  expect((await http('POST', '/generic-webhook-trigger/invoke?token=nope&DELIVERY=x')).status).toBe(404);
  expect((await http('POST', `/job/app/buildWithParameters?token=wrong&DELIVERY=x`, { Authorization: basic() })).status).toBe(403);
  expect((await http('POST', `/job/nojob/buildWithParameters?token=${BUILD_TOKEN}`, { Authorization: basic() })).status).toBe(404);
  // CrumbFilter runs before the build token is looked at: an anonymous POST needs a crumb.
  expect((await http('POST', `/job/app/buildWithParameters?token=${BUILD_TOKEN}&DELIVERY=x`)).status).toBe(403);
  expect(await buildsBy('blue')).toEqual(new Map());
});

test('a webhook at each phase of a promoted switch gives exactly one build, on green; the queue held by quiet-down is handed over and audited', async () => {
  // Before: blue serves and builds.
  expect((await deliver('before-1', 'webhook')).env).toBe('blue');
  expect((await deliver('before-2', 'build')).env).toBe('blue');
  await eventually('blue built both', async () => ((await buildsBy('blue')).size === 2 ? true : null), 10_000);

  // During the quiet-down: a build still runs on blue, so the migration waits; webhooks reach blue and stay queued.
  await standinControl(t.team, 'blue', { builds: [{ job: 'app', number: 90, oneOff: false }] });
  const migration = client.call('state.migrate', { team: t.team.team_name, source: 'blue', target: 'green', timeoutSec: 60 }, 120_000);
  await eventually('blue quiets down', async () => ((await jenkinsFor(t.team, 'blue').root()).quietingDown ? true : null), 20_000);
  expect((await deliver('quiet-1', 'webhook')).env).toBe('blue');
  expect((await deliver('quiet-2', 'build')).env).toBe('blue');
  const held = await queued('blue');
  expect(held.map((q) => [q.params, q.why])).toEqual([
    ['\nDELIVERY=quiet-1', 'Jenkins is about to shut down'],
    ['\nDELIVERY=quiet-2', 'Jenkins is about to shut down'],
  ]);
  await standinControl(t.team, 'blue', { builds: [] });
  const migrated = await migration;
  expect(migrated.error).toBeUndefined();
  const handover = (migrated.result as { triggers: { route: { routed: boolean }; handed: Array<{ sourceId: number; job: string; cancelled: boolean }>; left: unknown[] } }).triggers;
  expect(handover.route.routed).toBe(true);
  expect(handover.handed.map((h) => [h.sourceId, h.job, h.cancelled])).toEqual(held.map((q) => [q.id, 'app', true]));
  expect(handover.left).toEqual([]);
  expect(await queued('blue')).toEqual([]);
  expect(await triggerWeights()).toEqual({ [t.team.environments.blue.server]: 0, [t.team.environments.green.server]: 1 });

  // During the steps: people still mostly on blue, triggers on green.
  const load = startLoad(hap.httpPort, { connections: 2, rate: 100, maxSeconds: 60, path: '/login' });
  let answer: Awaited<ReturnType<typeof switchTo>>;
  try {
    const switching = switchTo('green', { increments: [50, 100], validationSec: 2, sampleIntervalMs: 200, minSamples: 5, drainTimeoutSec: 5 });
    await eventually('the 50% step', async () => ((await hap.runtime.showStat()).some((s) => s.backend === t.team.haproxy_backend && s.server === t.team.environments.green.server && s.weight === 50) ? true : null), 30_000);
    expect((await deliver('step-1', 'webhook')).env).toBe('green');
    expect((await deliver('step-2', 'build')).env).toBe('green');
    answer = await switching;
  } finally {
    await load.stop();
  }
  expect(answer.error).toBeUndefined();
  expect(answer.result).toMatchObject({ status: 'promoted', to: 'green' });

  // After promotion.
  expect((await deliver('after-1', 'webhook')).env).toBe('green');
  expect((await deliver('after-2', 'build')).env).toBe('green');
  const ids = ['before-1', 'before-2', 'quiet-1', 'quiet-2', 'step-1', 'step-2', 'after-1', 'after-2'];
  await eventually('green built everything', async () => {
    const g = await buildsBy('green');
    return ids.every((id) => g.has(id)) ? true : null;
  }, 20_000);
  await expectOneBuildEach(ids, 'green');

  const audit = await store.audit.list({ team: t.team.team_name, operationType: 'traffic.queue-handover' });
  const fromMigration = audit.find((a) => a.sourceEnvironment === 'blue' && (a.metadata as { handed: unknown[] }).handed.length === 2);
  expect(fromMigration).toMatchObject({ status: 'done', targetEnvironment: 'green', metadata: { handed: [{ job: 'app', parameters: ['DELIVERY'] }, { job: 'app', parameters: ['DELIVERY'] }] } });
});

test('a rolled-back switch loses no trigger: after the rollback triggers reach green again and its held queue runs when the quiet-down is lifted', async () => {
  // Green serves; blue becomes the target: the migration green → blue sends triggers to blue.
  expect((await deliver('rb-before', 'webhook')).env).toBe('green');
  // Blue was left quieting down when traffic left it; the target of a new switch builds again (as a fresh deploy of it would).
  expect((await client.call('environment.quietDown', { team: t.team.team_name, environment: 'blue', cancel: true }, 60_000)).error).toBeUndefined();
  const migrated = await client.call('state.migrate', { team: t.team.team_name, source: 'green', target: 'blue', timeoutSec: 60 }, 120_000);
  expect(migrated.error).toBeUndefined();
  expect(await triggerWeights()).toEqual({ [t.team.environments.blue.server]: 1, [t.team.environments.green.server]: 0 });

  // A trigger during the 50% step reaches blue and builds there; then blue starts failing and the switch rolls back.
  const load = startLoad(hap.httpPort, { connections: 2, rate: 100, maxSeconds: 60, path: '/login' });
  let answer: Awaited<ReturnType<typeof switchTo>>;
  try {
    const switching = switchTo('blue', { increments: [50, 100], validationSec: 3, sampleIntervalMs: 200, minSamples: 3, drainTimeoutSec: 5 });
    await eventually('the 50% step', async () => ((await hap.runtime.showStat()).some((s) => s.backend === t.team.haproxy_backend && s.server === t.team.environments.blue.server && s.weight === 50) ? true : null), 30_000);
    expect((await deliver('rb-step', 'webhook')).env).toBe('blue');
    await standinControl(t.team, 'blue', { unhealthy: true });
    answer = await switching;
  } finally {
    await load.stop();
    await standinControl(t.team, 'blue', { unhealthy: false });
  }
  expect(answer.error).toMatchObject({ data: { operationStatus: 'rolled_back' } });
  expect(await triggerWeights()).toEqual({ [t.team.environments.blue.server]: 0, [t.team.environments.green.server]: 1 });

  // After the rollback: green (still quieted by the migration) takes the trigger and holds it ...
  expect((await deliver('rb-after', 'webhook')).env).toBe('green');
  expect((await queued('green')).map((q) => q.params)).toEqual(['\nDELIVERY=rb-after']);
  // ... until the pipeline's post { failure } lifts the quiet-down.
  const lifted = await client.call('environment.quietDown', { team: t.team.team_name, environment: 'green', cancel: true }, 60_000);
  expect(lifted.error).toBeUndefined();
  await eventually('green built the held trigger', async () => ((await buildsBy('green')).has('rb-after') ? true : null), 20_000);
  const [blue, green] = await Promise.all([buildsBy('blue'), buildsBy('green')]);
  // None lost: each delivery has one build; the one that arrived during the steps ran on blue.
  expect(green.get('rb-before')?.length).toBe(1);
  expect(blue.get('rb-step')?.length).toBe(1);
  expect(green.get('rb-step')).toBeUndefined();
  expect(green.get('rb-after')?.length).toBe(1);
  expect(blue.get('rb-after')).toBeUndefined();
  // The rollback hands blue's queue over in the background (blue may be the side that hangs); its record names the switch.
  const rollbackHandover = await eventually(
    'the rollback\'s handover record',
    async () => (await store.audit.list({ team: t.team.team_name, operationType: 'traffic.queue-handover' })).find((a) => a.sourceEnvironment === 'blue' && a.targetEnvironment === 'green' && a.operationId) ?? null,
    20_000,
  );
  expect(rollbackHandover).toMatchObject({ metadata: { route: { routed: true, to: 'green' } } });
});

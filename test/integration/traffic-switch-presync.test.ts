import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { trafficSwitchParams } from '../../catalog/methods/traffic';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { migrateState } from '../../agent/src/environments/migrate';
import { recoverEnvironmentOperations } from '../../agent/src/environments/recovery';
import { dockerTargetSync } from '../../agent/src/environments/pre-switch-sync';
import type { OperationRunner } from '../../agent/src/operations/runner';
import type { PgStore } from '../../agent/src/store';
import type { Actor } from '../../agent/src/store/contract';
import { InFlightSwitches } from '../../agent/src/traffic/in-flight';
import { runTrafficSwitch, trafficDeps, type SwitchResult, type TrafficDeps } from '../../agent/src/traffic/switch';
import type { TestTeam } from '../support/docker-teams';
import type { HaproxyProcess } from '../support/haproxy-process';
import { startLoad } from '../support/haproxy-load';
import { startSwitchFixture, type SwitchFixture } from '../support/switch-fixture';

/**
 * The seed's Pipeline A order (switch, then migrate) without a reload on the
 * serving side: traffic.switch brings green up to date (pre-copy, delta,
 * reload) while green has no traffic, so the migration after the switch finds
 * nothing to reload. Real stand-in controllers on the real Docker engine,
 * real haproxy, the Postgres store and the operation runner; bounded HTTP
 * load through haproxy for the switch and the migration, not one failure.
 */
jest.setTimeout(150_000);
const docker = new Docker();
const jenkinsFor = teamJenkinsClientFactory();
let fixture: SwitchFixture | undefined;
let store: PgStore;
let runner: OperationRunner;
let hap: HaproxyProcess;
let t: TestTeam;
let deps: TrafficDeps;
const actor: Actor = { tokenId: 'ops', build: 'devops/Infrastructure/Self-Managed-Blue-Green-Switch#9', instanceId: 'presync-test' };
const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";

beforeAll(async () => {
  fixture = await startSwitchFixture(docker, jenkinsFor, { name: 'presync', prefix: 'psy', instanceId: 'presync-test' });
  ({ store, runner, t, hap } = fixture);
  const { teamConfig } = fixture;
  // Blue's history: a job with a build, written as Jenkins leaves it, and loaded as Jenkins loads it (at reload).
  await jenkinsFor(t.team, 'blue').createJob('app', PIPELINE);
  const pack = tarPack();
  pack.entry({ name: 'jobs/app/builds/1/build.xml' }, "<?xml version='1.1' encoding='UTF-8'?>\n<flow-build><number>1</number><result>SUCCESS</result></flow-build>\n");
  pack.entry({ name: 'jobs/app/builds/1/log' }, 'Started by timer\nFinished: SUCCESS\n');
  pack.entry({ name: 'jobs/app/nextBuildNumber' }, '2\n');
  pack.finalize();
  await docker.getContainer(t.team.environments.blue.container).putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });
  deps = trafficDeps({ store, haproxy: hap.runtime, teamConfig, inFlight: new InFlightSwitches(), targetSync: dockerTargetSync({ docker, jenkinsFor, journal: store.journal }, { teamConfig, drainTimeoutSec: 60 }) });
});

afterAll(async () => {
  await fixture?.stop();
});

const greenRequests = async (): Promise<number> => (await hap.runtime.showStat()).find((s) => s.backend === t.team.haproxy_backend && s.server === t.team.environments.green.server)!.reqTot;

test("switch then migrate (Pipeline A's order) under load: green is reloaded before it gets traffic, the migration after finds nothing to reload, 0 failed requests", async () => {
  const team = t.team.team_name;
  const phases: string[] = [];
  const load = startLoad(hap.httpPort, { connections: 4, rate: 200, maxSeconds: 90, path: '/login' });
  let switched: SwitchResult;
  let migrated: Awaited<ReturnType<typeof migrateState>>;
  let greenRequestsBefore = 0;
  let greenRequestsAfter = 0;
  let operationId = '';
  try {
    const grant = await store.locks.acquire({ team, operation: 'blue_green_switch', ttlSec: 300, waitSec: 0, owner: 'test', actor });
    const params = trafficSwitchParams.parse({ team, target: 'green', lockToken: grant.token, increments: [25, 100], validationSec: 2, sampleIntervalMs: 200, minSamples: 5, syncTarget: true });
    const out = await runner.run({ type: 'traffic.switch', team, params, actor, onProgress: (e) => phases.push(`${e.phase}: ${e.message}`) }, (ctx) => runTrafficSwitch(deps, params, ctx));
    switched = out.result as SwitchResult;
    operationId = out.operationId;
    await store.locks.release({ team, operation: 'blue_green_switch', token: grant.token, owner: 'test', actor });
    greenRequestsBefore = await greenRequests();
    // Pipeline A's migrateRuntimeState: blue (now in maint) → green (serving everything).
    migrated = await migrateState({ docker, jenkinsFor }, t.team, { source: 'blue', target: 'green', timeoutSec: 60, pollMs: 200 });
    greenRequestsAfter = await greenRequests();
  } finally {
    const totals = await load.stop();
    process.stdout.write(`switch + migrate under load: ${totals.requests} requests, ${totals.non2xx} non-2xx, ${totals.errors} errors\n`);
    expect(totals.requests).toBeGreaterThan(200);
    expect(totals.non2xx).toBe(0);
    expect(totals.errors).toBe(0);
  }
  // Green loaded blue's state before it had traffic: reloaded, or restarted when the copy brought blue's key files (a fresh side has its own).
  expect(switched.synced).toMatchObject({ synced: true });
  expect(switched.synced?.synced === true && (switched.synced.reloaded || switched.synced.restarted)).toBe(true);
  // The sync ran before the first weight moved: its reload fell on a green with no traffic.
  const order = phases.map((p) => p.split(':')[0]);
  expect(order.indexOf('synced')).toBeGreaterThanOrEqual(0);
  expect(order.indexOf('synced')).toBeLessThan(order.indexOf('step-25'));
  expect(migrated.reloaded).toBe(false);
  expect(migrated.jobNames).toEqual(['app']);
  // Green had the traffic from the 100 % step on. (Whether it got requests during the migration is not measured:
  // the load generator shares this process with migrateState, which can hold the event loop for the whole migration.)
  expect(greenRequestsBefore).toBeGreaterThan(0);
  expect(greenRequestsAfter).toBeGreaterThanOrEqual(greenRequestsBefore);
  // Green loaded blue's job and build number when it was reloaded, before it had traffic (Job.onLoad reads nextBuildNumber).
  expect((await jenkinsFor(t.team, 'green').listJobs()).find((j) => j.fullName === 'app')).toMatchObject({ nextBuildNumber: 2 });
  // The switch's journal: blue quieted down, green reloaded, blue's executors back, all before the first weight change.
  const steps = (await store.journal.get(operationId))!.steps.map((s) => `${s.name}:${s.outcome}`);
  const first = (name: string): number => steps.findIndex((s) => s.startsWith(`${name}:`));
  // Green took blue's state by a reload, or by a restart when the copy brought blue's key files (a fresh side made its own).
  const loaded = steps.includes('restart_target:done') ? 'restart_target' : 'reload_target';
  for (const name of ['quiet_down_source', loaded, 'cancel_quiet_down_source']) {
    expect(steps).toContain(`${name}:done`);
    expect(first(name)).toBeLessThan(first('weights'));
  }
});

test('a sidecar killed while a switch synced its target: startup recovery gives the source its executors back and leaves the switch to the traffic recovery', async () => {
  const instanceId = 'presync-killed';
  const team = t.team.team_name;
  const blue = jenkinsFor(t.team, 'blue');
  // What the journal holds when the process died in the sync's drain: the quiet-down's intent, the quiet-down in force.
  const { operation } = await store.journal.begin({ type: 'traffic.switch', team, params: { target: 'green' }, actor: { ...actor, instanceId } });
  await store.journal.intent(operation.id, 'quiet_down_source', { environment: 'blue' });
  await blue.quietDown('state migration to green');
  expect((await blue.root()).quietingDown).toBe(true);
  const actions = await recoverEnvironmentOperations({ journal: store.journal, jenkinsFor, team: (n) => (n === team ? t.team : undefined), docker }, instanceId);
  expect(actions).toEqual([expect.objectContaining({ operationId: operation.id, type: 'traffic.switch', cancelledQuietDown: ['blue'] })]);
  expect((await blue.root()).quietingDown).toBe(false);
  // Still running: traffic recovery (which runs next at start) closes the switch and puts the weights where they belong.
  const op = await store.journal.get(operation.id);
  expect(op).toMatchObject({ status: 'running' });
  expect(op!.steps.map((s) => `${s.name}:${s.outcome}`)).toEqual(['quiet_down_source:pending', 'cancel_quiet_down_source:done']);
  // A second start finds nothing left to settle.
  expect(await recoverEnvironmentOperations({ journal: store.journal, jenkinsFor, team: (n) => (n === team ? t.team : undefined), docker }, instanceId)).toEqual([]);
  await store.journal.finish(operation.id, 'aborted', null, { code: 'DEPENDENCY_DOWN', message: 'test cleanup' });
});

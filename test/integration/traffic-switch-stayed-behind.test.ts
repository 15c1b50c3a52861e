import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { trafficSwitchParams } from '../../catalog/methods/traffic';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { dockerStayedBehindWatcher, type StayedBehindReport } from '../../agent/src/environments/stayed-behind';
import type { SidecarError } from '../../agent/src/sidecar-error';
import type { OperationRunner } from '../../agent/src/operations/runner';
import type { PgStore } from '../../agent/src/store';
import type { Actor } from '../../agent/src/store/contract';
import { InFlightSwitches } from '../../agent/src/traffic/in-flight';
import { runTrafficSwitch, trafficDeps, type TrafficDeps } from '../../agent/src/traffic/switch';
import { standinControl, type TestTeam } from '../support/docker-teams';
import type { HaproxyProcess } from '../support/haproxy-process';
import { startLoad } from '../support/haproxy-load';
import { startSwitchFixture, type SwitchFixture } from '../support/switch-fixture';

/**
 * A traffic.switch that rolls back reports what the target did while it had
 * traffic: real stand-in controllers on the real Docker engine, real haproxy
 * (config from renderHaproxyConfig), the Postgres store and the operation
 * runner. During the first step a build lands in green's home (the files
 * Jenkins writes for a run: builds/<n>/build.xml and log, nextBuildNumber)
 * and a job is created through green's REST API; then green slows down and
 * the window breaches.
 */
jest.setTimeout(120_000);
const docker = new Docker();
const jenkinsFor = teamJenkinsClientFactory();
let fixture: SwitchFixture | undefined;
let store: PgStore;
let runner: OperationRunner;
let hap: HaproxyProcess;
let t: TestTeam;
let deps: TrafficDeps;
const actor: Actor = { tokenId: 'ops', build: 'devops/Infrastructure/Self-Managed-Blue-Green-Switch#4', instanceId: 'stayed-behind-test' };
const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";

beforeAll(async () => {
  fixture = await startSwitchFixture(docker, jenkinsFor, { name: 'stayed', prefix: 'stb', instanceId: 'stayed-behind-test', seedJob: { name: 'app', xml: PIPELINE } });
  ({ store, runner, t, hap } = fixture);
  const { teamConfig } = fixture;
  // The switch lists green's home when it starts; what was written in that same second counts as changed
  // (the racily clean rule), so the setup's own writes must be at least a second older than that listing.
  await new Promise((r) => setTimeout(r, 1100));
  deps = trafficDeps({ store, haproxy: hap.runtime, teamConfig, inFlight: new InFlightSwitches(), stayedBehind: dockerStayedBehindWatcher(docker, teamConfig) });
});

afterAll(async () => {
  await fixture?.stop();
});

/** Writes files into a container's JENKINS_HOME through the archive API, as a build running there would leave them. */
async function putFiles(container: string, files: Record<string, string>): Promise<void> {
  const pack = tarPack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name }, body);
  pack.finalize();
  await docker.getContainer(container).putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/var/jenkins_home' });
}

async function switchToGreen(onStep: (phase: string) => Promise<void>, phases: Array<{ phase: string; message: string }>): Promise<SidecarError> {
  const team = t.team.team_name;
  const grant = await store.locks.acquire({ team, operation: 'blue_green_switch', ttlSec: 120, waitSec: 0, owner: 'test', actor });
  const params = trafficSwitchParams.parse({ team, target: 'green', lockToken: grant.token, increments: [50, 100], validationSec: 3, sampleIntervalMs: 200, minSamples: 5, triggers: ['error_rate > 2%', 'response_time > 700ms', 'availability < 99.5%'] });
  let pending: Promise<void> = Promise.resolve();
  const load = startLoad(hap.httpPort, { connections: 4, rate: 100, maxSeconds: 60, path: '/login' });
  try {
    await runner.run({ type: 'traffic.switch', team, params, actor, onProgress: (e) => {
      phases.push(e as { phase: string; message: string });
      if (e.phase === 'step-50') pending = pending.then(() => onStep(e.message));
    } }, (ctx) => runTrafficSwitch(deps, params, ctx));
    throw new Error('the switch was promoted; it should have rolled back');
  } catch (err) {
    return err as SidecarError;
  } finally {
    await load.stop();
    await pending;
    await standinControl(t.team, 'green', { slowMs: 0 });
    await store.locks.release({ team, operation: 'blue_green_switch', token: grant.token, owner: 'test', actor });
  }
}

test('a switch that breaches after a build ran on the target and a job was saved there lists both in its result, audit row and progress', async () => {
  const phases: Array<{ phase: string; message: string }> = [];
  let acted = false;
  const err = await switchToGreen(async () => {
    if (acted) return;
    acted = true;
    await putFiles(t.team.environments.green.container, {
      'jobs/app/builds/1/build.xml': "<?xml version='1.1' encoding='UTF-8'?>\n<flow-build><number>1</number><result>SUCCESS</result></flow-build>\n",
      'jobs/app/builds/1/log': 'Started by user visitor\nFinished: SUCCESS\n',
      'jobs/app/nextBuildNumber': '2\n',
    });
    await jenkinsFor(t.team, 'green').createJob('hotfix', PIPELINE);
    await standinControl(t.team, 'green', { slowMs: 1200 });
  }, phases);
  expect(acted).toBe(true);
  expect(err.code).toBe('SLI_BREACH');
  const behind = (err.data as { stayedBehind: StayedBehindReport }).stayedBehind;
  expect(behind).toMatchObject({ listed: true, builds: ['app#1'], removed: [] });
  if (!behind.listed) throw new Error(behind.error);
  // Topmost entries: the new job whole, the build (or the builds directory its first build created), the build number.
  expect(behind.changed).toHaveLength(3);
  expect(behind.changed).toEqual(expect.arrayContaining(['jobs/app/nextBuildNumber', 'jobs/hotfix', expect.stringMatching(/^jobs\/app\/builds(\/1)?$/)]));
  // The audit row keeps the same account.
  const audit = await store.audit.list({ team: t.team.team_name, operationType: 'traffic.switch' });
  expect(audit[0]).toMatchObject({ status: 'rolled_back', metadata: { stayedBehind: { listed: true, builds: ['app#1'] } } });
  // The progress line (the Jenkins console) names the build and what was saved.
  const line = phases.find((p) => p.phase === 'stayed_behind');
  expect(line?.message).toContain('app#1');
  expect(line?.message).toContain('jobs/hotfix');
  // Blue, which serves again, was not touched: the build is only on green.
  expect((await jenkinsFor(t.team, 'blue').listJobs()).map((j) => j.fullName)).toEqual(['app']);
});

test('a switch that rolls back before the target did anything reports that nothing stayed behind', async () => {
  const phases: Array<{ phase: string; message: string }> = [];
  const err = await switchToGreen(() => standinControl(t.team, 'green', { slowMs: 1200 }), phases);
  expect(err.code).toBe('SLI_BREACH');
  expect((err.data as { stayedBehind: StayedBehindReport }).stayedBehind).toEqual({ listed: true, changed: [], removed: [], files: 0, bytes: 0, builds: [] });
  expect(phases.find((p) => p.phase === 'stayed_behind')?.message).toContain('nothing stayed behind');
});

import Docker from 'dockerode';
import { loadTemplates } from '../../library-gen/src/template-source';
import { infrastructureJobNames, runSmoke, type SmokeOptions } from '../../library-gen/src/smoke/smoke';
import { controllerFileMounts } from '../../agent/src/docker/controller-mounts';
import { ensureStandinBaseImage } from '../fixtures/standin-jenkins-base/build-image';
import { TEST_CONTROLLER_FILES } from '../support/controller-files';
import { freeBlueGreenPort, makeTestTeam, type TestTeam } from '../support/docker-teams';
import { readFileSync } from 'node:fs';

// library-gen smoke against the stand-in base image (the image override): the generated Dockerfile is
// built for real, the throw-away blue runs on the real engine with deploy's spec, and every REST check
// is asked of the stand-in. Nothing in the stand-in runs JCasC or Job DSL, so the test gives it, from
// onStarted, what those would have created: the service user, the seed's Infrastructure jobs, the
// coordination agent's node.
jest.setTimeout(180_000);
const docker = new Docker();
const templates = loadTemplates();
let base: string;
let t: TestTeam;
const smokeLog: string[] = [];

beforeAll(async () => {
  base = await ensureStandinBaseImage(docker);
  t = await makeTestTeam({
    prefix: 'smk',
    extra: ['    self_management_enabled: true', '    dynamic_agents:', '      mount_docker_socket: true', '    jenkins_configuration:', '      public_url: http://smk.jenkins.example.com/'],
  });
});
afterAll(async () => {
  await t?.cleanup(docker);
});

const password = (): string => readFileSync(controllerFileMounts(t.team, TEST_CONTROLLER_FILES).find((m) => m.field === 'secrets.service_password')?.source ?? '', 'utf8').trim();

async function control(baseUrl: string, body: unknown): Promise<void> {
  const r = await fetch(`${baseUrl}/_standin/control`, { method: 'POST', body: JSON.stringify(body) });
  expect(r.status).toBe(200);
}

/** What the service user would create over REST: folders and jobs (POST createItem, config.xml bodies). */
async function createJob(baseUrl: string, folder: string[], name: string, cls: 'folder' | 'pipeline'): Promise<void> {
  const xml = cls === 'folder' ? "<?xml version='1.1' encoding='UTF-8'?>\n<com.cloudbees.hudson.plugins.folder.Folder plugin=\"cloudbees-folder\"/>\n" : "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"/>\n";
  const at = folder.map((f) => `/job/${f}`).join('');
  const r = await fetch(`${baseUrl}${at}/createItem?name=${name}`, { method: 'POST', body: xml, headers: { Authorization: `Basic ${Buffer.from(`sidecar:${password()}`).toString('base64')}`, 'Content-Type': 'application/xml' } });
  expect(r.status).toBe(200);
}

async function options(extra: Partial<SmokeOptions>): Promise<SmokeOptions> {
  return { team: t.team, docker, templates, controllerFiles: TEST_CONTROLLER_FILES, baseImage: base, webPort: await freeBlueGreenPort(), agentPort: await freeBlueGreenPort(), timeoutSec: 60, log: (l) => smokeLog.push(l), ...extra };
}

test('passes every check on a controller with the library, the Infrastructure jobs and an online coordination agent, and cleans up', async () => {
  smokeLog.length = 0;
  const result = await runSmoke(
    await options({
      onStarted: async (baseUrl) => {
        await control(baseUrl, { users: [{ name: 'sidecar', token: password() }], agents: [{ name: 'coord-host1', labels: ['coordination-agent'], offline: false }] });
        await createJob(baseUrl, [], t.team.team_name, 'folder');
        await createJob(baseUrl, [t.team.team_name], 'Infrastructure', 'folder');
        for (const n of infrastructureJobNames(templates)) await createJob(baseUrl, [t.team.team_name, 'Infrastructure'], n, 'pipeline');
      },
    }),
  );
  // The library check reads the generated jenkins.yaml back from the controller: registered and implicit.
  expect(result.failures).toEqual([]);
  expect(smokeLog).toEqual(
    expect.arrayContaining([
      expect.stringMatching(new RegExp(`^ok: built jsm-smoke-smk[0-9a-f]+:[0-9a-f]+ from teams/smk[0-9a-f]+/Dockerfile \\(FROM ${base.replace(/[.:-]/g, '\\$&')}\\)$`)),
      expect.stringMatching(/^ok: started jsm-smoke-/),
      'ok: Jenkins is up: configuration as code has applied jenkins.yaml',
      `ok: ${t.team.team_name}/Infrastructure has ${infrastructureJobNames(templates).join(', ')}`,
      'ok: an online node carries coordination-agent',
      `ok: ${t.team.team_name}/Infrastructure/Self-Managed-Blue-Green-Switch is buildable`,
    ]),
  );
  expect(infrastructureJobNames(templates)).toEqual(['Seed-Job', 'Self-Managed-Blue-Green-Switch', 'Infrastructure-Coordination', 'Emergency-Rollback', 'backup']);
  const left = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`io.jenkins-selfmanage.smoke=${t.team.team_name}`] }) });
  expect(left).toEqual([]);
});

test('names each missing piece: no Infrastructure jobs, coordination agent offline, the service user refused', async () => {
  smokeLog.length = 0;
  const missing = await runSmoke(
    await options({
      timeoutSec: 15,
      onStarted: async (baseUrl) => control(baseUrl, { users: [{ name: 'sidecar', token: password() }], agents: [{ name: 'coord-host1', labels: ['coordination-agent'], offline: true }] }),
    }),
  );
  expect(missing.failures.filter((f) => !f.startsWith('library:'))).toEqual([
    `Infrastructure jobs: GET ${t.team.team_name}/Infrastructure answered 404`,
    'coordination agent: coord-host1 offline: start the coordination agent',
    'switch job: GET the switch job answered 404',
  ]);
  const refused = await runSmoke(await options({ timeoutSec: 15, onStarted: async () => undefined }));
  expect(refused.failures).toEqual(['configuration as code: the service user sidecar is refused (401): jenkins.yaml did not set its password from secrets.service_password']);
});

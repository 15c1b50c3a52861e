import Docker from 'dockerode';
import { deployEnvironment, stopEnvironment, type EnvironmentDeps } from '../../agent/src/environments/deploy';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { LABEL_ENVIRONMENT, LABEL_MANAGED, LABEL_TEAM } from '../../agent/src/docker/labels';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, seedServiceUser, type TestTeam } from '../support/docker-teams';
import { createServer } from 'node:net';
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { controllerEnvSecrets, LIBRARY_HOST_DIR_ENV } from '../../agent/src/environments/controller-runtime';
import { PassThrough } from 'node:stream';
import { controllerFileMounts } from '../../agent/src/docker/controller-mounts';
import { TEST_CONTROLLER_FILES } from '../support/controller-files';
import { ensureStandinImage, ensureStandinImageWithoutHealthcheck, standinImageNames } from '../support/standin-image';

// Real Docker engine (host networking, 127.0.0.1 ports), real stand-in Jenkins containers, real Postgres store.
// jest ignores testTimeout inside a project entry of jest.config.js; container starts need more than 5 s.
jest.setTimeout(120_000);
const docker = new Docker();
let db: TestDatabase;
let store: PgStore;
let t: TestTeam;
let deps: EnvironmentDeps;
const foreign: string[] = [];

beforeAll(async () => {
  await ensureStandinImage(docker);
  db = await createTestDatabase('envdeploy');
  store = await createPgStore({ connectionString: db.url, instanceId: 'test-deploy' });
  t = await makeTestTeam({ prefix: 'dep' });
  deps = { docker, environments: store.environments, jenkinsFor: teamJenkinsClientFactory(), networking: { mode: 'host' }, journal: store.journal };
});

afterAll(async () => {
  for (const name of foreign) await docker.getContainer(name).remove({ force: true }).catch(() => undefined);
  await t?.cleanup(docker);
  await store?.close();
  await db?.drop();
});

const envOf = (info: Docker.ContainerInspectInfo): Record<string, string> =>
  Object.fromEntries((info.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));

test('deploys blue, then green while blue serves: both healthy with their own ports, env, labels and volumes', async () => {
  const team = t.team;
  const blue = await deployEnvironment(deps, team, { target: 'blue', timeoutSec: 60, replace: true });
  expect(blue).toMatchObject({ container: `jenkins-${team.team_name}-blue`, healthy: true, ports: { web: team.web_port, agent: team.agent_port }, volume: `jenkins-${team.team_name}-blue-home`, replaced: false });
  const green = await deployEnvironment(deps, team, { target: 'green', timeoutSec: 60, replace: true });
  expect(green).toMatchObject({ healthy: true, ports: { web: team.web_port + 100, agent: team.agent_port + 100 }, image: standinImageNames().v1 });

  for (const env of ['blue', 'green'] as const) {
    const info = await docker.getContainer(team.environments[env].container).inspect();
    expect(info.State.Health?.Status).toBe('healthy');
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.Config.Labels).toMatchObject({ [LABEL_MANAGED]: 'true', [LABEL_TEAM]: team.team_name, [LABEL_ENVIRONMENT]: env });
    expect(envOf(info)).toMatchObject({
      JENKINS_ENVIRONMENT: env,
      JENKINS_TEAM: team.team_name,
      JENKINS_OPTS: `--httpPort=${team.environments[env].web_port}`,
      JENKINS_SLAVE_AGENT_PORT: String(team.environments[env].agent_port),
    });
    expect(info.Mounts.map((m) => [m.Type, m.Name, m.Destination])).toEqual([['volume', `jenkins-${team.team_name}-${env}-home`, '/var/jenkins_home']]);
    const res = await fetch(`${team.environments[env].url}/login`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-standin-environment')).toBe(env);
  }
  const state = await store.environments.get(team.team_name);
  expect(state?.weights).toEqual({ blue: 100, green: 0 });
});

test('redeploying green (no traffic) replaces its container and keeps its volume', async () => {
  const team = t.team;
  await seedServiceUser(t, 'green');
  const client = deps.jenkinsFor(team, 'green');
  await client.createJob('kept-job', "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"></flow-definition>\n");
  const before = await docker.getContainer(team.environments.green.container).inspect();
  const progress: string[] = [];
  const ctx = { operation: { id: 'x' }, progress: (e: { phase: string; message: string }) => progress.push(e.phase), signal: new AbortController().signal } as never;
  const again = await deployEnvironment({ ...deps, journal: undefined }, team, { target: 'green', image: standinImageNames().v2, timeoutSec: 60, replace: true, graceSec: 5 }, ctx);
  expect(again).toMatchObject({ replaced: true, healthy: true, image: standinImageNames().v2 });
  expect(progress).toEqual(expect.arrayContaining(['replace', 'start', 'health', 'done']));
  const after = await docker.getContainer(team.environments.green.container).inspect();
  expect(after.Id).not.toBe(before.Id);
  const res = await fetch(`${team.environments.green.url}/login`);
  expect(res.headers.get('x-jenkins')).toBe('2.452.2');
  const jobs = await client.listJobs();
  expect(jobs.map((j) => j.fullName)).toEqual(['kept-job']);
});

test('redeploying or stopping blue while it serves is refused with CONFLICT and blue keeps serving', async () => {
  const team = t.team;
  const before = await docker.getContainer(team.environments.blue.container).inspect();
  await expect(deployEnvironment(deps, team, { target: 'blue', timeoutSec: 60, replace: true })).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'target_serving' }, message: expect.stringContaining('carries traffic') });
  await expect(stopEnvironment(deps, team, { environment: 'blue', graceSec: 5 })).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'target_serving' } });
  const after = await docker.getContainer(team.environments.blue.container).inspect();
  expect(after.Id).toBe(before.Id);
  expect(after.State.Running).toBe(true);
  expect((await fetch(`${team.environments.blue.url}/login`)).status).toBe(200);
});

test('replace=false keeps a running environment as it is', async () => {
  const team = t.team;
  const before = await docker.getContainer(team.environments.blue.container).inspect();
  const r = await deployEnvironment(deps, team, { target: 'blue', timeoutSec: 30, replace: false });
  expect(r).toMatchObject({ replaced: false, healthy: true });
  expect((await docker.getContainer(team.environments.blue.container).inspect()).Id).toBe(before.Id);
});

test('stopping green (no traffic) stops it gracefully and keeps the container', async () => {
  const team = t.team;
  const r = await stopEnvironment(deps, team, { environment: 'green', graceSec: 10 });
  expect(r).toEqual({ stopped: true, removed: false, container: team.environments.green.container });
  const info = await docker.getContainer(team.environments.green.container).inspect();
  expect(info.State.Running).toBe(false);
  expect(info.State.ExitCode).toBe(0); // the stand-in handled SIGTERM: no SIGKILL after the grace period
});

test('containers without the sidecar labels are never stopped, replaced or removed', async () => {
  const other = await makeTestTeam({ prefix: 'foreign' });
  try {
    const name = other.team.environments.green.container;
    foreign.push(name);
    const c = await docker.createContainer({ name, Image: standinImageNames().v1, Env: [`JENKINS_OPTS=--httpPort=${other.team.environments.green.web_port}`], HostConfig: { NetworkMode: 'host' } });
    await c.start();
    await expect(deployEnvironment(deps, other.team, { target: 'green', timeoutSec: 30, replace: true })).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'foreign_resource' }, message: expect.stringContaining('not created by the sidecar') });
    await expect(stopEnvironment(deps, other.team, { environment: 'green', graceSec: 1, remove: true })).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'foreign_resource' } });
    await other.cleanup(docker); // removes only labelled objects
    const info = await c.inspect();
    expect(info.State.Running).toBe(true);
    expect(info.Id).toBe(c.id);
  } finally {
    await docker.getContainer(other.team.environments.green.container).remove({ force: true }).catch(() => undefined);
  }
});

test('an image without a Docker health check becomes healthy through the HTTP probe of /login', async () => {
  const image = await ensureStandinImageWithoutHealthcheck(docker);
  const other = await makeTestTeam({ prefix: 'nohc', image });
  try {
    const r = await deployEnvironment(deps, other.team, { target: 'blue', timeoutSec: 60, replace: true });
    expect(r).toMatchObject({ healthy: true, image });
    const info = await docker.getContainer(other.team.environments.blue.container).inspect();
    expect(info.State.Health).toBeUndefined();
    expect((await fetch(`${other.team.environments.blue.url}/login`)).status).toBe(200);
  } finally {
    await other.cleanup(docker);
  }
});

test('a container that exits at start fails fast with DEPENDENCY_DOWN naming docker logs', async () => {
  const other = await makeTestTeam({ prefix: 'exit' });
  // Occupy green's port so the stand-in cannot bind it and exits.
  const blocker = createServer().listen(other.team.environments.green.web_port, '0.0.0.0');
  try {
    await expect(deployEnvironment(deps, other.team, { target: 'green', timeoutSec: 30, replace: true })).rejects.toMatchObject({ code: 'DEPENDENCY_DOWN', message: expect.stringContaining('docker logs') });
    // stopped (no crash loop), kept for its logs
    const info = await docker.getContainer(other.team.environments.green.container).inspect();
    expect(info.State.Running).toBe(false);
    expect(info.State.Restarting).toBe(false);
  } finally {
    blocker.close();
    await other.cleanup(docker);
  }
});

/* ---------- the files jenkins.yaml reads: secrets and the file:// library ---------- */

/** Runs a command in the container (the stand-in ships node) and returns its exit code and output. */
async function execIn(container: string, cmd: string[], user?: string): Promise<{ code: number | null; out: string }> {
  const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, ...(user ? { User: user } : {}) });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => chunks.push(d));
  docker.modem.demuxStream(stream, sink, sink);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec ${cmd.join(' ')} in ${container}: no end after 30 s`)), 30_000);
    stream.on('end', () => (clearTimeout(timer), resolve()));
    stream.on('error', (e) => (clearTimeout(timer), reject(e)));
  });
  return { code: (await exec.inspect()).ExitCode, out: Buffer.concat(chunks).toString('utf8') };
}

const readInside = (container: string, path: string) => execIn(container, ['/usr/bin/node', '-e', `process.stdout.write(require('fs').readFileSync(${JSON.stringify(path)}, 'utf8'))`]);

async function teamObjects(team: string): Promise<{ containers: number; volumes: number }> {
  const filters = JSON.stringify({ label: [`${LABEL_MANAGED}=true`, `${LABEL_TEAM}=${team}`] });
  const containers = await docker.listContainers({ all: true, filters });
  const { Volumes } = await docker.listVolumes({ filters });
  return { containers: containers.length, volumes: (Volumes ?? []).length };
}

test('with controller files configured, deploy bind-mounts the secrets and the library read-only where jenkins.yaml reads them', async () => {
  const other = await makeTestTeam({ prefix: 'sec' });
  try {
    const withFiles: EnvironmentDeps = { ...deps, controllerFiles: TEST_CONTROLLER_FILES };
    await deployEnvironment(withFiles, other.team, { target: 'blue', timeoutSec: 60, replace: true });
    const name = other.team.environments.blue.container;
    const info = await docker.getContainer(name).inspect();
    const mounts = controllerFileMounts(other.team, TEST_CONTROLLER_FILES);
    expect(mounts.map((m) => m.target)).toEqual(['/run/secrets/jenkins-admin-password', '/run/secrets/jenkins-service-password', '/run/secrets/sidecar-token', '/var/lib/jenkins-selfmanage/library.git']);
    expect(info.Mounts.filter((m) => m.Type === 'bind').map((m) => [m.Source, m.Destination, m.RW])).toEqual(expect.arrayContaining(mounts.map((m) => [m.source, m.target, false])));
    expect(info.Mounts.filter((m) => m.Type === 'bind')).toHaveLength(4);
    for (const m of mounts.filter((x) => x.kind === 'secret')) {
      const r = await readInside(name, m.target);
      expect(r).toEqual({ code: 0, out: readFileSync(m.source, 'utf8') });
    }
    const write = await execIn(name, ['/usr/bin/node', '-e', "require('fs').writeFileSync('/run/secrets/sidecar-token', 'x')"]);
    expect(write.code).not.toBe(0);
    expect(write.out).toMatch(/EROFS|read-only/);
    const lib = await execIn(name, ['/usr/bin/node', '-e', "process.stdout.write(String(require('fs').statSync('/var/lib/jenkins-selfmanage/library.git').isDirectory()))"]);
    expect(lib).toEqual({ code: 0, out: 'true' });
  } finally {
    await other.cleanup(docker);
  }
});

test('a missing, empty or world-readable secret refuses the deploy before anything is created', async () => {
  const other = await makeTestTeam({ prefix: 'nosec' });
  try {
    const withFiles: EnvironmentDeps = { ...deps, controllerFiles: TEST_CONTROLLER_FILES };
    const [admin, service, token] = controllerFileMounts(other.team, TEST_CONTROLLER_FILES);
    rmSync(admin.source);
    const missing = deployEnvironment(withFiles, other.team, { target: 'green', timeoutSec: 30, replace: true });
    await expect(missing).rejects.toMatchObject({ code: 'NOT_FOUND', data: { path: admin.source, target: '/run/secrets/jenkins-admin-password' } });
    await expect(missing).rejects.toThrow(`secret file ${admin.source} does not exist`);
    await expect(missing).rejects.toThrow(`create it: install -d -m 0750 -g 1000`);
    expect(await teamObjects(other.team.team_name)).toEqual({ containers: 0, volumes: 0 });
    await expect(docker.getContainer(other.team.environments.green.container).inspect()).rejects.toMatchObject({ statusCode: 404 });

    writeFileSync(admin.source, 'restored\n', { mode: 0o600 });
    writeFileSync(service.source, '');
    await expect(deployEnvironment(withFiles, other.team, { target: 'green', timeoutSec: 30, replace: true })).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'controller_file_unusable' }, message: expect.stringContaining(`${service.source} is empty`) });
    expect(await teamObjects(other.team.team_name)).toEqual({ containers: 0, volumes: 0 });

    writeFileSync(service.source, 'restored\n');
    chmodSync(token.source, 0o644);
    await expect(deployEnvironment(withFiles, other.team, { target: 'green', timeoutSec: 30, replace: true })).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'controller_file_unusable' }, message: expect.stringContaining(`${token.source} is readable by every user`) });
    expect(await teamObjects(other.team.team_name)).toEqual({ containers: 0, volumes: 0 });
  } finally {
    await other.cleanup(docker);
  }
});

test('a redeploy refused for a missing secret keeps the running container as it was', async () => {
  const other = await makeTestTeam({ prefix: 'keep' });
  try {
    const withFiles: EnvironmentDeps = { ...deps, controllerFiles: TEST_CONTROLLER_FILES };
    await deployEnvironment(withFiles, other.team, { target: 'green', timeoutSec: 60, replace: true });
    const before = await docker.getContainer(other.team.environments.green.container).inspect();
    const service = controllerFileMounts(other.team, TEST_CONTROLLER_FILES)[1];
    rmSync(service.source);
    await expect(deployEnvironment(withFiles, other.team, { target: 'green', image: standinImageNames().v2, timeoutSec: 30, replace: true })).rejects.toMatchObject({ code: 'NOT_FOUND', data: { path: service.source } });
    const after = await docker.getContainer(other.team.environments.green.container).inspect();
    expect(after.Id).toBe(before.Id);
    expect(after.State.Running).toBe(true);
    expect(after.Config.Image).toBe(standinImageNames().v1);
  } finally {
    await other.cleanup(docker);
  }
});

/* ---------- what the controller gets at run time: env secrets, the Docker socket ---------- */

test('a {env: NAME} secret reaches the controller as that variable, read from the team secrets directory; the Docker socket is mounted with its group', async () => {
  const other = await makeTestTeam({
    prefix: 'envs',
    extra: ['    secrets:', '      sidecar_token: { env: SIDECAR_TOKEN }', '    dynamic_agents:', '      mount_docker_socket: true', '      docker_host: unix:///var/run/docker.sock'],
  });
  try {
    const withFiles: EnvironmentDeps = { ...deps, controllerFiles: TEST_CONTROLLER_FILES };
    const [secret] = controllerEnvSecrets(other.team, TEST_CONTROLLER_FILES);
    expect(secret).toMatchObject({ field: 'secrets.sidecar_token', name: 'SIDECAR_TOKEN' });
    // Missing value: refused before anything is created, with the fix.
    await expect(deployEnvironment(withFiles, other.team, { target: 'blue', timeoutSec: 30, replace: true })).rejects.toMatchObject({ code: 'NOT_FOUND', data: { path: secret.source } });
    expect(await teamObjects(other.team.team_name)).toEqual({ containers: 0, volumes: 0 });
    writeFileSync(secret.source, 'team-token-value\n', { mode: 0o600 });

    await deployEnvironment(withFiles, other.team, { target: 'blue', timeoutSec: 60, replace: true });
    const name = other.team.environments.blue.container;
    const info = await docker.getContainer(name).inspect();
    expect(envOf(info)).toMatchObject({ SIDECAR_TOKEN: 'team-token-value', [LIBRARY_HOST_DIR_ENV]: TEST_CONTROLLER_FILES.libraryDir });
    // The process itself sees it (not only the container's config).
    expect(await execIn(name, ['/usr/bin/node', '-e', 'process.stdout.write(process.env.SIDECAR_TOKEN || "")'])).toEqual({ code: 0, out: 'team-token-value' });
    const sockGid = String(statSync('/var/run/docker.sock').gid);
    expect(info.HostConfig.GroupAdd).toEqual([sockGid]);
    expect(info.Mounts.filter((m) => m.Destination === '/var/run/docker.sock').map((m) => [m.Type, m.Source, m.RW])).toEqual([['bind', '/var/run/docker.sock', true]]);
    // As the official image's jenkins user (uid/gid 1000) the Docker API answers through the mounted socket.
    const ping = await execIn(
      name,
      [
        '/usr/bin/node',
        '-e',
        "const s=require('net').connect('/var/run/docker.sock',()=>s.write('GET /_ping HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n'));let b='';s.on('data',d=>b+=d);s.on('end',()=>process.stdout.write(b.split('\\r\\n\\r\\n')[1]||''));s.on('error',e=>{process.stdout.write(e.code);process.exit(3)})",
      ],
      '1000:1000',
    );
    expect(ping).toEqual({ code: 0, out: 'OK' });
  } finally {
    await other.cleanup(docker);
  }
});

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { parseTeamsDocument, type EnvironmentName, type Team } from '../../catalog/teams-file';
import { LABEL_MANAGED, LABEL_TEAM } from '../../agent/src/docker/labels';
import { deployEnvironment, type EnvironmentDeps } from '../../agent/src/environments/deploy';
import { removeControllerFiles, writeControllerFiles } from './controller-files';
import { standinImageNames } from './standin-image';

/**
 * Test teams whose controllers run as real stand-in Jenkins containers:
 * a random team name (so container and volume names never collide with
 * other engineers' tests on this machine), free loopback ports for blue and
 * blue+100 (green), a token file, and cleanup of everything labelled with the
 * team. Importable outside jest (demo, Groovy harness).
 */
export const TEST_JENKINS_USER = 'sidecar';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function anyPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const p = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(p));
    });
  });
}

/**
 * A port P with P and P+100 free (blue and green), none of them in `taken`: two probes in a row
 * may be handed the same free port, and a team whose web and agent ports meet cannot start.
 * Bounded: 100 tries.
 */
export async function freeBlueGreenPort(taken: number[] = []): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const p = await anyPort();
    const clash = taken.some((t) => t === p || t === p + 100 || t + 100 === p);
    if (!clash && p > 1024 && p <= 65435 - 1 && (await portFree(p + 100))) return p;
  }
  throw new Error('no free port pair (P, P+100) on 127.0.0.1 after 100 tries');
}

export interface TestTeam {
  team: Team;
  token: string;
  dir: string;
  /** A teams file (SIDECAR_TEAMS_FILE) listing this one team. */
  teamsFile: string;
  cleanup(docker: Docker): Promise<void>;
}

/** `extra`: more YAML lines of the team's entry (indented 4 spaces, e.g. `    secrets:`). */
export async function makeTestTeam(opts: { prefix?: string; image?: string; requiredAgents?: string[]; token?: string; extra?: string[] } = {}): Promise<TestTeam> {
  const name = `${opts.prefix ?? 't'}${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `jsm-${name}-`));
  const token = opts.token ?? randomBytes(12).toString('hex');
  const tokenFile = join(dir, 'jenkins-token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const web = await freeBlueGreenPort();
  const agent = await freeBlueGreenPort([web]);
  const yaml = [
    'jenkins_teams:',
    `  - team_name: ${name}`,
    `    image: ${opts.image ?? standinImageNames().v1}`,
    `    web_port: ${web}`,
    `    agent_port: ${agent}`,
    `    jenkins_user: ${TEST_JENKINS_USER}`,
    `    jenkins_token_file: ${tokenFile}`,
    `    required_agents: ${JSON.stringify(opts.requiredAgents ?? [])}`,
    ...(opts.extra ?? []),
  ].join('\n');
  const parsed = parseTeamsDocument(yaml, 'test-teams.yml');
  if (parsed.errors.length) throw new Error(parsed.errors.join('\n'));
  const team = parsed.teams[0];
  // The secrets and library environment.deploy checks and mounts (sidecar supports pass TEST_CONTROLLER_ENV).
  writeControllerFiles(team);
  const teamsFile = join(dir, 'teams.yml');
  writeFileSync(teamsFile, `${yaml}\n`);
  return {
    team,
    token,
    dir,
    teamsFile,
    async cleanup(docker: Docker) {
      await removeTeamObjects(docker, name);
      rmSync(dir, { recursive: true, force: true });
      removeControllerFiles(name);
    },
  };
}

/** Removes every container and volume labelled for this team (and nothing else). */
export async function removeTeamObjects(docker: Docker, team: string): Promise<void> {
  const filters = JSON.stringify({ label: [`${LABEL_MANAGED}=true`, `${LABEL_TEAM}=${team}`] });
  const containers = await docker.listContainers({ all: true, filters });
  for (const c of containers) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  const { Volumes } = await docker.listVolumes({ filters });
  for (const v of Volumes ?? []) await docker.getVolume(v.Name).remove().catch(() => undefined);
}

/**
 * Removes the team's containers and volumes, the given image tags and every
 * image left carrying the team's label (a generated Dockerfile labels its
 * layers, so a build's intermediate layers, cached ones of a failed build too).
 */
export async function removeTeamAndImages(docker: Docker, team: string, tags: readonly string[]): Promise<void> {
  await removeTeamObjects(docker, team);
  for (const tag of tags) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  const leftovers = await docker.listImages({ all: true, filters: JSON.stringify({ label: [`${LABEL_TEAM}=${team}`] }) });
  for (const img of leftovers) await docker.getImage(img.Id).remove({ force: true }).catch(() => undefined);
}

/** Drives the stand-in's test state (POST /_standin/control). */
export async function standinControl(team: Team, env: EnvironmentName, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${team.environments[env].url}/_standin/control`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`stand-in control ${team.team_name}/${env}: HTTP ${res.status}`);
  await res.arrayBuffer();
}

/** The service account the sidecar uses, written into the controller's home (users/). */
export const seedServiceUser = (t: TestTeam, env: EnvironmentName): Promise<void> => standinControl(t.team, env, { users: [{ name: TEST_JENKINS_USER, token: t.token }] });

/** Blue and green deployed from the team's image, each with the service account (a migration's source and target). */
export async function deployBothWithServiceUser(deps: EnvironmentDeps, t: TestTeam): Promise<void> {
  await deployEnvironment(deps, t.team, { target: 'blue', timeoutSec: 60, replace: true });
  await deployEnvironment(deps, t.team, { target: 'green', timeoutSec: 60, replace: true });
  await seedServiceUser(t, 'blue');
  await seedServiceUser(t, 'green');
}

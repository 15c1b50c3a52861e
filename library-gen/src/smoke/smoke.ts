import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import type { Team } from '../../../catalog/teams-file';
import { controllerContainerSpec } from '../../../catalog/controller/container-spec';
import { controllerFileMounts, teamSecretsDir, type ControllerFilesConfig } from '../../../catalog/controller/controller-mounts';
import { checkControllerFiles } from '../../../catalog/controller/controller-files';
import { controllerRuntime } from '../../../catalog/controller/controller-runtime';
import { AGENT_LABEL } from '../render/jenkinsfiles';
import { renderTeamFiles } from '../render/team-files';
import type { TemplateSource } from '../template-source';
import { basicProbe, computersOf, jobsOf, librariesOfExport, type JenkinsProbe } from './jenkins-probe';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * `library-gen smoke`: the first thing to run on a machine that can pull images.
 * Builds the team's image from the generated Dockerfile, starts it as a
 * throw-away blue (own name, ports and volume; the container spec, mounts and
 * variables are environment.deploy's), and checks over REST what every
 * generated job needs: configuration-as-code applied, the library registered
 * (and implicit), the Infrastructure jobs created by the seed job, the
 * coordination agent online, the switch job buildable. One line per check.
 */
export interface SmokeOptions {
  team: Team;
  docker: Docker;
  templates: TemplateSource;
  controllerFiles: ControllerFilesConfig;
  /** FROM of the image instead of jenkins_base_image (a mirror, or a stand-in in tests). */
  baseImage?: string;
  webPort: number;
  agentPort: number;
  timeoutSec: number;
  log: (line: string) => void;
  /** Called once the controller answers (tests drive their stand-in from here). */
  onStarted?: (baseUrl: string) => Promise<void>;
  keep?: boolean;
}

export interface SmokeResult {
  ok: boolean;
  failures: string[];
}


async function buildImage(docker: Docker, team: Team, tag: string, log: (l: string) => void): Promise<void> {
  const pack = tarPack();
  for (const f of renderTeamFiles(team)) pack.entry({ name: posix.basename(f.path) }, f.content);
  pack.finalize();
  const stream = await docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: tag, labels: { 'io.jenkins-selfmanage.smoke': team.team_name } });
  const events = await new Promise<Array<{ error?: string; stream?: string }>>((resolve, reject) => docker.modem.followProgress(stream, (err, out) => (err ? reject(err) : resolve(out as Array<{ error?: string }>))));
  const failed = events.find((e) => e.error);
  if (failed) throw new Error(`docker build of teams/${team.team_name}/Dockerfile failed: ${failed.error}`);
  log(`ok: built ${tag} from teams/${team.team_name}/Dockerfile (FROM ${team.jenkins_base_image})`);
}

/** The service user's password as JCasC reads it (trim strips trailing whitespace). */
function servicePassword(team: Team, cfg: ControllerFilesConfig): string {
  const src = team.secrets.service_password;
  const name = 'file' in src ? posix.basename(src.file) : src.env;
  return readFileSync(posix.join(teamSecretsDir(cfg, team.team_name), name), 'utf8').replace(/\s+$/, '');
}

/** Job names the self-management Job DSL creates under <team>/Infrastructure (read from the template itself). */
export function infrastructureJobNames(templates: TemplateSource): string[] {
  const text = readFileSync(posix.join(templates.root, 'library-gen/templates/jobdsl/self-management.groovy.hbs'), 'utf8');
  return ['Seed-Job', ...[...text.matchAll(/pipelineJob\("\$\{base\}\/([A-Za-z0-9_.-]+)"\)/g)].map((m) => m[1])];
}

async function startBlue(o: SmokeOptions, image: string, suffix: string): Promise<Docker.Container> {
  const blue = { ...o.team.environments.blue, web_port: o.webPort, agent_port: o.agentPort };
  const team: Team = { ...o.team, environments: { ...o.team.environments, blue } };
  const fileMounts = controllerFileMounts(team, o.controllerFiles);
  await checkControllerFiles(team.team_name, fileMounts);
  const runtime = await controllerRuntime(team, o.controllerFiles, fileMounts.find((m) => m.kind === 'library'));
  const spec = controllerContainerSpec({ team, environment: 'blue', image, networking: { mode: 'host' }, extraEnv: runtime.env, fileMounts, runtimeMounts: runtime.mounts, groupAdd: runtime.groupAdd });
  // Its own name, volume and labels: the sidecar never takes it for the team's real blue.
  spec.name = `jsm-smoke-${team.team_name}-${suffix}`;
  spec.Labels = { 'io.jenkins-selfmanage.smoke': team.team_name };
  const hc = spec.HostConfig ?? {};
  hc.Mounts = (hc.Mounts ?? []).map((m) => (m.Type === 'volume' ? { ...m, Source: `jsm-smoke-${suffix}-home` } : m));
  hc.RestartPolicy = { Name: 'no' };
  const c = await o.docker.createContainer(spec);
  await c.start();
  o.log(`ok: started ${spec.name} on port ${o.webPort} with environment.deploy's mounts and variables`);
  return c;
}

/** Runs `check` (null = done, string = why not yet) at least once, again each second until the deadline; the last reason is the failure. */
async function until(deadline: number, c: Docker.Container, check: () => Promise<string | null>): Promise<string | null> {
  for (;;) {
    const why = await check().catch((err: Error) => `no answer (${err.message})`);
    if (why === null) return null;
    const info = await c.inspect();
    if (!info.State.Running) return `${why}; the controller exited (docker logs ${info.Name.replace(/^\//, '')})`;
    if (Date.now() >= deadline) return why;
    await sleep(1000);
  }
}

async function checks(o: SmokeOptions, jenkins: JenkinsProbe, c: Docker.Container, deadline: number): Promise<string[]> {
  const failures: string[] = [];
  const t = o.team.team_name;
  // What configuration as code set is there once Jenkins is up (asked once); what the seed job and the agent bring may take a while.
  const step = async (label: string, done: string, check: () => Promise<string | null>, wait = true): Promise<void> => {
    const why = await until(wait ? deadline : 0, c, check);
    if (why) failures.push(`${label}: ${why}`);
    o.log(why ? `FAIL: ${label}: ${why}` : `ok: ${done}`);
  };
  const lib = o.team.shared_library.name;
  await step('library', `library ${lib} is registered and loads implicitly`, async () => {
    const r = await jenkins.post('/configuration-as-code/export');
    if (r.status !== 200) return `POST /configuration-as-code/export answered ${r.status}`;
    const found = librariesOfExport(r.body).find((l) => l.name === lib);
    if (!found) return `no global library named ${lib} in the applied configuration`;
    return found.implicit ? null : `library ${lib} is not implicit: Jenkinsfiles without @Library fail with "No such DSL method"`;
  }, false);
  const wanted = infrastructureJobNames(o.templates);
  await step('Infrastructure jobs', `${t}/Infrastructure has ${wanted.join(', ')}`, async () => {
    const r = await jenkins.get(`/job/${encodeURIComponent(t)}/job/Infrastructure/api/json?tree=jobs[name,buildable]`);
    if (r.status !== 200) return `GET ${t}/Infrastructure answered ${r.status}`;
    const have = new Set(jobsOf(r.body).map((j) => j.name));
    const missing = wanted.filter((n) => !have.has(n));
    return missing.length ? `missing ${missing.join(', ')} (has the seed job run? see its console)` : null;
  });
  await step('coordination agent', `an online node carries ${AGENT_LABEL}`, async () => {
    const r = await jenkins.get('/computer/api/json?tree=computer[displayName,offline,assignedLabels[name]]');
    if (r.status !== 200) return `GET /computer/api/json answered ${r.status}`;
    const nodes = computersOf(r.body).filter((n) => n.labels.includes(AGENT_LABEL));
    if (nodes.length === 0) return `no node carries the label ${AGENT_LABEL} (docs/coordination-agent.md)`;
    return nodes.some((n) => !n.offline) ? null : `${nodes.map((n) => n.displayName).join(', ')} offline: start the coordination agent`;
  });
  await step('switch job', `${t}/Infrastructure/Self-Managed-Blue-Green-Switch is buildable`, async () => {
    const r = await jenkins.get(`/job/${encodeURIComponent(t)}/job/Infrastructure/job/Self-Managed-Blue-Green-Switch/api/json?tree=buildable`);
    if (r.status !== 200) return `GET the switch job answered ${r.status}`;
    return (JSON.parse(r.body) as { buildable?: boolean }).buildable ? null : 'the switch job is disabled';
  }, false);
  return failures;
}

export async function runSmoke(o: SmokeOptions): Promise<SmokeResult> {
  const suffix = randomBytes(4).toString('hex');
  const tag = `jsm-smoke-${o.team.team_name}:${suffix}`;
  const team: Team = o.baseImage ? { ...o.team, jenkins_base_image: o.baseImage } : o.team;
  let container: Docker.Container | undefined;
  try {
    await buildImage(o.docker, team, tag, o.log);
    container = await startBlue({ ...o, team }, tag, suffix);
    const deadline = Date.now() + o.timeoutSec * 1000;
    const baseUrl = `http://127.0.0.1:${o.webPort}`;
    // GET /login answers 200 once Jenkins is up, without credentials (what the official Helm chart probes).
    const up = await until(deadline, container, async () => {
      const r = await fetch(`${baseUrl}/login`, { signal: AbortSignal.timeout(5000) });
      return r.status === 200 ? null : `GET /login answered ${r.status}`;
    });
    if (up) {
      o.log(`FAIL: start: ${up}`);
      return { ok: false, failures: [`start: ${up}`] };
    }
    if (o.onStarted) await o.onStarted(baseUrl);
    const jenkins = basicProbe(baseUrl, team.jenkins_user, servicePassword(team, o.controllerFiles));
    const started = await until(deadline, container, async () => {
      const r = await jenkins.get('/api/json');
      if (r.status === 401) return `the service user ${team.jenkins_user} is refused (401): jenkins.yaml did not set its password from secrets.service_password`;
      return r.status === 200 ? null : `GET /api/json answered ${r.status}`;
    });
    if (started) {
      o.log(`FAIL: configuration as code: ${started}`);
      return { ok: false, failures: [`configuration as code: ${started}`] };
    }
    o.log('ok: Jenkins is up: configuration as code has applied jenkins.yaml');
    const failures = await checks({ ...o, team }, jenkins, container, deadline);
    return { ok: failures.length === 0, failures };
  } finally {
    if (!o.keep) {
      if (container) await container.remove({ force: true, v: true }).catch(() => undefined);
      await o.docker.getVolume(`jsm-smoke-${suffix}-home`).remove().catch(() => undefined);
      await o.docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    }
  }
}

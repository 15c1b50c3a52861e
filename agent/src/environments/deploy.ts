import type Docker from 'dockerode';
import { otherEnvironment, type EnvironmentName, type Team } from '../../../catalog/teams-file';
import { controllerContainerSpec, type NetworkingConfig } from '../docker/container-spec';
import { controllerFileMounts, type ControllerFileMount, type ControllerFilesConfig } from '../docker/controller-mounts';
import { dockerDown, ensureManagedVolume, imageExists, inspectManaged, removeManaged, stopManaged } from '../docker/containers';
import { waitHealthy } from '../docker/health';
import { volumeNameFor } from '../docker/labels';
import { SidecarError } from '../sidecar-error';
import type { EnvironmentStateStore, OperationContext } from '../store/contract';
import { checkControllerFiles, type StatFile } from './controller-files';
import { controllerRuntime, type ControllerRuntime } from './controller-runtime';
import type { JenkinsClientFactory } from './controllers';
import { journaled, report, type StepJournal } from './journal-step';
import { isServing } from './serving-side';

export interface EnvironmentDeps {
  docker: Docker;
  environments: EnvironmentStateStore;
  jenkinsFor: JenkinsClientFactory;
  networking: NetworkingConfig;
  journal?: StepJournal;
  /** Extra env for every controller (e.g. CASC_JENKINS_CONFIG); never overrides the sidecar's own. */
  controllerEnv?: Record<string, string>;
  /**
   * Host side of the files the team's jenkins.yaml reads (secrets, file:// library): checked,
   * then bind-mounted read-only. The sidecar always passes its config's; a caller that leaves it
   * out (stand-in controllers in tests, the bench) gets only the JENKINS_HOME volume.
   */
  controllerFiles?: ControllerFilesConfig;
  /** Filesystem edge of the checks (fs.promises.stat). */
  statFile?: StatFile;
}

export interface DeployParams {
  target: EnvironmentName;
  image?: string;
  timeoutSec: number;
  /** false: a running container of the target is kept as it is (only waited on). */
  replace: boolean;
  /** Grace period when stopping the container being replaced. */
  graceSec?: number;
}

export interface DeployResult {
  container: string;
  environment: EnvironmentName;
  healthy: boolean;
  ports: { web: number; agent: number };
  image: string;
  volume: string;
  replaced: boolean;
  healthyAfterMs: number;
}

/**
 * environment.deploy: starts (or replaces) one environment of a team from the
 * team's image. Only the side without traffic may be replaced: blue and green
 * cannot bind one port at once, so replacing the serving side would drop it.
 */
export async function deployEnvironment(deps: EnvironmentDeps, team: Team, params: DeployParams, ctx?: OperationContext): Promise<DeployResult> {
  const env = params.target;
  const ports = team.environments[env];
  const image = params.image ?? team.image;
  const volume = volumeNameFor(team.team_name, env);
  const state = await deps.environments.ensure(team.team_name, team.active_environment);
  const existing = await inspectManaged(deps.docker, ports.container, team.team_name, env);
  const timeoutMs = params.timeoutSec * 1000;
  const probe = (): Promise<boolean> => deps.jenkinsFor(team, env).probeLogin();
  const result = (replaced: boolean, healthyAfterMs: number, img: string): DeployResult => ({
    container: ports.container,
    environment: env,
    healthy: true,
    ports: { web: ports.web_port, agent: ports.agent_port },
    image: img,
    volume,
    replaced,
    healthyAfterMs,
  });

  if (existing?.running && !params.replace) {
    report(ctx, 'health', `${ports.container} is already running; waiting for it to be healthy`);
    const { elapsedMs } = await waitHealthy(deps.docker, existing.id, existing.name, { timeoutMs, probe, signal: ctx?.signal });
    return result(false, elapsedMs, existing.image);
  }
  if (existing?.running && isServing(state, env)) {
    const other = otherEnvironment(env);
    throw new SidecarError(
      'CONFLICT',
      `cannot redeploy ${team.team_name}/${env}: it carries traffic (desired weights blue=${state.weights.blue} green=${state.weights.green}); deploy ${other} instead, or move traffic to ${other} first (traffic.switch target=${other})`,
      { reason: 'target_serving', team: team.team_name, environment: env, weights: state.weights },
    );
  }
  const { fileMounts, runtime } = await preflight(deps, team, image);
  const id = await replaceAndStart(deps, team, params, image, volume, existing, fileMounts, runtime, ctx);
  const elapsedMs = await awaitHealthy(deps, team, params, image, id, probe, ctx);
  return result(!!existing, elapsedMs, image);
}

/** The image and the files the controller reads, checked before the volume, the old container or the new one: a refused deploy changes nothing. */
async function preflight(deps: EnvironmentDeps, team: Team, image: string): Promise<{ fileMounts: ControllerFileMount[]; runtime: ControllerRuntime }> {
  if (!(await imageExists(deps.docker, image))) {
    throw new SidecarError('NOT_FOUND', `image ${image} is not on this Docker host; build or load it first (the team's image is set by \`image\` in the teams file)`, { image });
  }
  let fileMounts: ControllerFileMount[] = [];
  if (deps.controllerFiles) {
    fileMounts = controllerFileMounts(team, deps.controllerFiles);
    await checkControllerFiles(team.team_name, fileMounts, deps.statFile);
  }
  // `{env: NAME}` secrets, the library's host path for agent mounts, the Docker socket: read and checked here too.
  const runtime: ControllerRuntime = await controllerRuntime(team, deps.controllerFiles, fileMounts.find((m) => m.kind === 'library'), { statFile: deps.statFile });
  return { fileMounts, runtime };
}

/** Ensures the home volume, stops and removes the container being replaced, creates and starts the new one; returns its id. */
async function replaceAndStart(
  deps: EnvironmentDeps,
  team: Team,
  params: DeployParams,
  image: string,
  volume: string,
  existing: Awaited<ReturnType<typeof inspectManaged>>,
  fileMounts: ControllerFileMount[],
  runtime: ControllerRuntime,
  ctx?: OperationContext,
): Promise<string> {
  const env = params.target;
  const ports = team.environments[env];
  await journaled(deps.journal, ctx, 'ensure_volume', { volume }, () => ensureManagedVolume(deps.docker, volume, team.team_name, env), (v) => v);
  if (existing) {
    report(ctx, 'replace', `stopping ${existing.name} (grace ${params.graceSec ?? 30}s) to replace it`);
    await journaled(deps.journal, ctx, 'remove_old_container', { container: existing.name, id: existing.id }, async () => {
      await stopManaged(deps.docker, existing, params.graceSec ?? 30);
      await removeManaged(deps.docker, existing);
    });
  }
  const spec = controllerContainerSpec({
    team,
    environment: env,
    image,
    networking: deps.networking,
    extraEnv: { ...(deps.controllerEnv ?? {}), ...runtime.env },
    fileMounts,
    runtimeMounts: runtime.mounts,
    groupAdd: runtime.groupAdd,
  });
  report(ctx, 'start', `starting ${ports.container} from ${image} on port ${ports.web_port}`);
  return journaled(
    deps.journal,
    ctx,
    'start_container',
    { container: ports.container, image },
    async () => {
      let c: Docker.Container;
      try {
        c = await deps.docker.createContainer(spec);
        await c.start();
      } catch (err) {
        throw dockerDown(`create/start ${ports.container}`, err);
      }
      return c.id;
    },
    (cid) => ({ id: cid }),
  );
}

/** Waits for the new controller to answer and records its health; returns how long it took. */
async function awaitHealthy(deps: EnvironmentDeps, team: Team, params: DeployParams, image: string, id: string, probe: () => Promise<boolean>, ctx?: OperationContext): Promise<number> {
  const env = params.target;
  const ports = team.environments[env];
  report(ctx, 'health', `waiting up to ${params.timeoutSec}s for ${ports.container} to become healthy`);
  let elapsedMs: number;
  try {
    ({ elapsedMs } = await waitHealthy(deps.docker, id, ports.container, {
      timeoutMs: params.timeoutSec * 1000,
      probe,
      signal: ctx?.signal,
      onWaiting: (detail, ms) => report(ctx, 'health', `${ports.container} not healthy yet after ${Math.round(ms / 1000)}s: ${detail}`),
    }));
  } catch (err) {
    // A side that never became healthy carries no traffic: stop it (its restart policy would crash-loop it)
    // but keep the container so `docker logs` still tells why.
    const failed = await inspectManaged(deps.docker, ports.container, team.team_name, env).catch(() => null);
    if (failed) await stopManaged(deps.docker, failed, 5).catch(() => undefined);
    await deps.environments.recordHealth(team.team_name, env, 'unhealthy', { container: ports.container, image, error: (err as Error).message }).catch(() => undefined);
    throw err;
  }
  await deps.environments.recordHealth(team.team_name, env, 'healthy', { container: ports.container, image, event: 'deployed' });
  report(ctx, 'done', `${ports.container} is healthy after ${Math.round(elapsedMs / 100) / 10}s`);
  return elapsedMs;
}

export interface StopParams {
  environment: EnvironmentName;
  graceSec: number;
  /** Also remove the container (its volume is always kept). */
  remove?: boolean;
}

/** environment.stop: graceful stop of the side without traffic; CONFLICT for the serving side. */
export async function stopEnvironment(deps: Pick<EnvironmentDeps, 'docker' | 'environments' | 'journal'>, team: Team, params: StopParams, ctx?: OperationContext): Promise<{ stopped: boolean; removed: boolean; container: string }> {
  const env = params.environment;
  const name = team.environments[env].container;
  const state = await deps.environments.ensure(team.team_name, team.active_environment);
  const existing = await inspectManaged(deps.docker, name, team.team_name, env);
  if (!existing) return { stopped: false, removed: false, container: name };
  if (existing.running && isServing(state, env)) {
    throw new SidecarError('CONFLICT', `cannot stop ${team.team_name}/${env}: it carries traffic (desired weights blue=${state.weights.blue} green=${state.weights.green}); move traffic away first`, { reason: 'target_serving',
      team: team.team_name,
      environment: env,
      weights: state.weights,
    });
  }
  report(ctx, 'stop', `stopping ${name} (grace ${params.graceSec}s)`);
  await journaled(deps.journal, ctx, 'stop_container', { container: name, graceSec: params.graceSec }, () => stopManaged(deps.docker, existing, params.graceSec));
  if (params.remove) await journaled(deps.journal, ctx, 'remove_container', { container: name }, () => removeManaged(deps.docker, existing));
  await deps.environments.recordHealth(team.team_name, env, 'stopped', { container: name });
  return { stopped: existing.running, removed: !!params.remove, container: name };
}

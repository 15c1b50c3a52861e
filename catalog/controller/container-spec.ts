import type Docker from 'dockerode';
import type { EnvironmentName, Team } from '../teams-file';
import type { ControllerFileMount } from './controller-mounts';
import { managedLabels, volumeNameFor } from './labels';

/** Where jenkins_home lives inside the official jenkins/jenkins image (and the stand-in). */
export const JENKINS_HOME_IN_CONTAINER = '/var/jenkins_home';

/**
 * How a controller's ports reach the host. `host`: the container shares the
 * host's network and learns its ports from env (JENKINS_OPTS / JENKINS_SLAVE_AGENT_PORT,
 * as the official image reads them). `published`: the container listens on
 * its usual ports, published on `bindAddress`.
 */
export type NetworkingConfig =
  | { mode: 'host' }
  | { mode: 'published'; bindAddress: string; containerWebPort: number; containerAgentPort: number };

export const DEFAULT_NETWORKING: NetworkingConfig = { mode: 'host' };

export interface ControllerSpecInput {
  team: Team;
  environment: EnvironmentName;
  image: string;
  networking: NetworkingConfig;
  /** Extra env for the controller (e.g. JCasC location); never overrides the ones set here. */
  extraEnv?: Record<string, string>;
  /** Host files the controller reads (secrets, file:// library), bind-mounted read-only at their targets. */
  fileMounts?: ControllerFileMount[];
  /** Read-write or read-only binds decided at run time (the Docker socket a team asked for). */
  runtimeMounts?: Array<{ source: string; target: string; readOnly: boolean }>;
  /** Supplementary groups of the controller's user (e.g. the Docker socket's gid). */
  groupAdd?: string[];
}

/**
 * Pure: the Docker create options of one environment. Blue and green differ only
 * in JENKINS_ENVIRONMENT, ports and their volume: one image, two containers.
 * environment.deploy creates it; library-gen's smoke starts a throw-away copy and
 * verify checks jenkins.yaml against the variables and mounts it gives.
 */
export function controllerContainerSpec(input: ControllerSpecInput): Docker.ContainerCreateOptions {
  const { team, environment, image, networking } = input;
  const ports = team.environments[environment];
  const env: Record<string, string> = { ...(input.extraEnv ?? {}), JENKINS_ENVIRONMENT: environment, JENKINS_TEAM: team.team_name };
  const hostConfig: Docker.HostConfig = {
    Mounts: [
      { Type: 'volume', Source: volumeNameFor(team.team_name, environment), Target: JENKINS_HOME_IN_CONTAINER },
      // Read-only: a controller (or a build on it) must not rewrite its secrets or the library it loads.
      ...(input.fileMounts ?? []).map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: true })),
      ...(input.runtimeMounts ?? []).map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly })),
    ],
    // The sidecar (or systemd) decides when a controller runs; Docker brings it back after a daemon restart.
    RestartPolicy: { Name: 'unless-stopped' },
  };
  if (input.groupAdd?.length) hostConfig.GroupAdd = [...input.groupAdd];
  const spec: Docker.ContainerCreateOptions = {
    name: ports.container,
    Image: image,
    Labels: managedLabels(team.team_name, environment),
    HostConfig: hostConfig,
  };
  if (networking.mode === 'host') {
    env.JENKINS_OPTS = `--httpPort=${ports.web_port}`;
    env.JENKINS_SLAVE_AGENT_PORT = String(ports.agent_port);
    hostConfig.NetworkMode = 'host';
  } else {
    const web = `${networking.containerWebPort}/tcp`;
    const agent = `${networking.containerAgentPort}/tcp`;
    spec.ExposedPorts = { [web]: {}, [agent]: {} };
    hostConfig.PortBindings = {
      [web]: [{ HostIp: networking.bindAddress, HostPort: String(ports.web_port) }],
      [agent]: [{ HostIp: networking.bindAddress, HostPort: String(ports.agent_port) }],
    };
  }
  spec.Env = Object.entries(env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  return spec;
}

import type Docker from 'dockerode';
import type { EnvironmentName } from '../../../catalog/teams-file';
import { SidecarError } from '../sidecar-error';
import { LABEL_MANAGED, labelsMatch, managedLabels } from './labels';

/**
 * The only way to reach a container for a mutating call: `inspectManaged`
 * returns a ManagedContainer only when the container carries the sidecar's
 * labels for this team and environment, and stop/remove accept nothing else.
 */
export interface ManagedContainer {
  readonly id: string;
  readonly name: string;
  readonly team: string;
  readonly environment: EnvironmentName;
  readonly running: boolean;
  readonly image: string;
  readonly info: Docker.ContainerInspectInfo;
  readonly __managed: true;
}

function statusCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? Number((err as { statusCode: unknown }).statusCode) : undefined;
}

/**
 * A failed call to the engine in an operator's words. A stopped or restarting
 * dockerd shows up as a missing socket (a clean shutdown removes it) or a
 * refused connection; both are "the engine is not there", not a sidecar fault.
 */
export function describeDockerError(err: unknown): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; address?: unknown; port?: unknown; message?: unknown };
  const where = typeof e.address === 'string' ? `${e.address}${typeof e.port === 'number' ? `:${e.port}` : ''}` : 'the Docker socket';
  switch (e.code) {
    case 'ENOENT':
      return `no Docker socket at ${where} (the engine is stopped or restarting)`;
    case 'ECONNREFUSED':
      return `connection refused at ${where} (the engine is stopped or restarting)`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `the engine closed the connection (${e.code}; it may be shutting down)`;
    case 'EACCES':
      return `permission denied on ${where} (the sidecar's user must be allowed to use the Docker socket, e.g. be in the docker group)`;
    default:
      return typeof e.message === 'string' && e.message ? e.message : String(err);
  }
}

/**
 * DEPENDENCY_DOWN for a failed engine call. dockerode opens a new connection per
 * request, so nothing needs resetting when the engine comes back: the message
 * tells the caller to retry once /readyz reports docker up.
 */
export function dockerDown(action: string, err: unknown): SidecarError {
  return new SidecarError(
    'DEPENDENCY_DOWN',
    `Docker engine: ${action} failed: ${describeDockerError(err)}; check that dockerd is running and DOCKER_HOST points at it, then retry (the sidecar reconnects by itself; /readyz shows docker up again)`,
    { action, ...(typeof (err as { code?: unknown })?.code === 'string' ? { errno: (err as { code: string }).code } : {}) },
    { cause: err },
  );
}

/** Inspect by name or id; null when it does not exist. */
export async function inspectContainer(docker: Docker, nameOrId: string): Promise<Docker.ContainerInspectInfo | null> {
  try {
    return await docker.getContainer(nameOrId).inspect();
  } catch (err) {
    if (statusCode(err) === 404) return null;
    throw dockerDown(`inspect container ${nameOrId}`, err);
  }
}

/** Null when absent; CONFLICT when a container of that name exists without the sidecar's labels. */
export async function inspectManaged(docker: Docker, name: string, team: string, environment: EnvironmentName): Promise<ManagedContainer | null> {
  const info = await inspectContainer(docker, name);
  if (!info) return null;
  if (!labelsMatch(info.Config?.Labels, team, environment)) {
    throw new SidecarError(
      'CONFLICT',
      `container ${name} exists but was not created by the sidecar for ${team}/${environment} (missing label ${LABEL_MANAGED}); the sidecar will not stop or replace it: remove or rename it by hand`,
      { reason: 'foreign_resource', container: name, team, environment },
    );
  }
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    team,
    environment,
    running: !!info.State?.Running,
    image: info.Config?.Image ?? '',
    info,
    __managed: true,
  };
}

/** Graceful stop (SIGTERM, then SIGKILL after graceSec). Stopping a stopped container is not an error. */
export async function stopManaged(docker: Docker, c: ManagedContainer, graceSec: number): Promise<void> {
  try {
    await docker.getContainer(c.id).stop({ t: graceSec });
  } catch (err) {
    const code = statusCode(err);
    if (code === 304 || code === 404) return; // already stopped / already gone
    throw dockerDown(`stop ${c.name}`, err);
  }
}

export async function removeManaged(docker: Docker, c: ManagedContainer): Promise<void> {
  try {
    await docker.getContainer(c.id).remove({ force: true, v: false });
  } catch (err) {
    if (statusCode(err) === 404) return;
    throw dockerDown(`remove ${c.name}`, err);
  }
}

export async function imageExists(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw dockerDown(`inspect image ${image}`, err);
  }
}

/**
 * Creates the named volume with the sidecar's labels, or returns the existing one.
 * CONFLICT when a volume of that name exists without them (someone else's data).
 */
export async function ensureManagedVolume(docker: Docker, name: string, team: string, environment: EnvironmentName): Promise<{ created: boolean }> {
  try {
    const v = await docker.getVolume(name).inspect();
    if (!labelsMatch(v.Labels, team, environment)) {
      throw new SidecarError('CONFLICT', `volume ${name} exists but was not created by the sidecar for ${team}/${environment}; the sidecar will not write into it: remove or rename it by hand`, { reason: 'foreign_resource', volume: name });
    }
    return { created: false };
  } catch (err) {
    if (err instanceof SidecarError) throw err;
    if (statusCode(err) !== 404) throw dockerDown(`inspect volume ${name}`, err);
  }
  try {
    await docker.createVolume({ Name: name, Labels: managedLabels(team, environment) });
  } catch (err) {
    throw dockerDown(`create volume ${name}`, err);
  }
  return { created: true };
}

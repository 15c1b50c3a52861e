import type Docker from 'dockerode';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { describeDockerError, inspectContainer } from '../docker/containers';
import { labelsMatch } from '../docker/labels';

/**
 * What Docker says about a team's two controllers, for environment.status: a
 * read that pipelines call often, so it is bounded (a slow or stopped engine
 * gives `unknown` with the reason, never an error or a hang) and never
 * changes anything.
 */
export interface ControllerContainerStatus {
  container: string;
  /** Docker's state (running, exited, restarting, ...), `missing`, `foreign` (same name, not ours) or `unknown` (Docker did not answer). */
  state: string;
  /** The health check's verdict (healthy, unhealthy, starting), null without one or when not running. */
  health: string | null;
  image: string | null;
  detail?: string;
}

export async function controllerContainers(docker: Docker, team: Team, timeoutMs = 1_500): Promise<Record<EnvironmentName, ControllerContainerStatus>> {
  const one = async (env: EnvironmentName): Promise<ControllerContainerStatus> => {
    const container = team.environments[env].container;
    let timer: NodeJS.Timeout | undefined;
    try {
      const info = await Promise.race([
        inspectContainer(docker, container),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`Docker did not answer within ${timeoutMs} ms`)), timeoutMs))),
      ]);
      if (!info) return { container, state: 'missing', health: null, image: null };
      if (!labelsMatch(info.Config?.Labels, team.team_name, env)) return { container, state: 'foreign', health: null, image: info.Config?.Image ?? null, detail: 'a container of this name exists without the sidecar labels' };
      return { container, state: info.State?.Status ?? 'unknown', health: info.State?.Running ? (info.State.Health?.Status ?? null) : null, image: info.Config?.Image ?? null };
    } catch (err) {
      return { container, state: 'unknown', health: null, image: null, detail: describeDockerError((err as { cause?: unknown }).cause ?? err) };
    } finally {
      clearTimeout(timer);
    }
  };
  const [blue, green] = await Promise.all([one('blue'), one('green')]);
  return { blue, green };
}

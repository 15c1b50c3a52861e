import type { EnvironmentName } from '../teams-file';

/**
 * Labels the sidecar puts on everything it creates. The sidecar refuses to stop,
 * remove or write into a container or volume that does not carry them: a
 * hand-started container that happens to share a name is never touched.
 */
export const LABEL_MANAGED = 'io.jenkins-selfmanage.managed';
export const LABEL_TEAM = 'io.jenkins-selfmanage.team';
export const LABEL_ENVIRONMENT = 'io.jenkins-selfmanage.environment';
/** controller (a Jenkins environment) or helper (a short-lived container used to reach a volume). */
export const LABEL_ROLE = 'io.jenkins-selfmanage.role';

export type ManagedRole = 'controller' | 'helper';

export function managedLabels(team: string, environment: EnvironmentName, role: ManagedRole = 'controller'): Record<string, string> {
  return { [LABEL_MANAGED]: 'true', [LABEL_TEAM]: team, [LABEL_ENVIRONMENT]: environment, [LABEL_ROLE]: role };
}

/** True when the labels say the sidecar manages this object for this team and environment. */
export function labelsMatch(labels: Record<string, string> | undefined | null, team: string, environment: EnvironmentName): boolean {
  return !!labels && labels[LABEL_MANAGED] === 'true' && labels[LABEL_TEAM] === team && labels[LABEL_ENVIRONMENT] === environment;
}

export const volumeNameFor = (team: string, environment: EnvironmentName): string => `jenkins-${team}-${environment}-home`;

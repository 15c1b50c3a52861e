/**
 * The names the generated haproxy.cfg gives a team's backends, servers, cookies
 * and tables, and the ones the sidecar addresses through the Runtime API: one
 * definition, so a config library-gen renders is the config the sidecar drives.
 * Team names are [a-z][a-z0-9_-] (teams-file.ts), valid in every one of these.
 */

/** A team's web backend when the teams file names none (`haproxy_backend`). */
export const DEFAULT_BACKEND_PREFIX = 'jenkins_backend_';

export function defaultBackendName(team: string): string {
  return `${DEFAULT_BACKEND_PREFIX}${team}`;
}

/** The server of one environment, the same in the web and the agent backend. */
export function serverName(team: string, environment: 'blue' | 'green'): string {
  return `${team}-${environment}`;
}

/** The TCP backend for a team's inbound agents; its servers carry the same names and weights. */
export function agentBackendName(team: string): string {
  return `jenkins_agents_${team}`;
}

/** The cookie in which HAProxy names the controller a person's session lives on; its value is the environment (blue/green). */
export function affinityCookieName(team: string): string {
  return `JSM_${team}`;
}

/** The cookie naming the controller a person last signed in on (its value: blue/green); only the people table reads it. */
export function signedInCookieName(team: string): string {
  return `JSM_${team}_signed_in`;
}

/** The stick table counting, per server, answers to signed-in people and the errors among them. */
export function peopleTableName(team: string): string {
  return `jsm_people_${team}`;
}

/** The backend webhooks and build triggers of a team go to: one server at a time takes them (weight 1). */
export function triggersBackendName(team: string): string {
  return `jenkins_triggers_${team}`;
}

import { RUNTIME_NAME_PATTERN } from '../../../catalog/teams-file';
import { SidecarError } from '../sidecar-error';

/**
 * Runtime API command lines. The API runs several `;`-separated commands from
 * one line, so a name with `;`, a space or a newline would smuggle in another
 * command: every name is checked against RUNTIME_NAME_PATTERN before a line is
 * built, and nothing else from a caller reaches a line.
 */
export type ServerAdminState = 'ready' | 'drain' | 'maint';
export const SERVER_ADMIN_STATES: readonly ServerAdminState[] = ['ready', 'drain', 'maint'];

/** Throws FORBIDDEN (nothing is sent) unless `name` is a safe backend/server name. */
export function checkRuntimeName(kind: 'backend' | 'server', name: unknown): string {
  if (typeof name !== 'string' || !RUNTIME_NAME_PATTERN.test(name)) {
    throw new SidecarError(
      'FORBIDDEN',
      `refusing to send an HAProxy Runtime API command: ${kind} name ${JSON.stringify(name)} may contain only [A-Za-z0-9_.:-] (1-64 characters); check the teams file`,
      { kind, name: typeof name === 'string' ? name : String(name) },
    );
  }
  return name;
}

function serverRef(backend: string, server: string): string {
  return `${checkRuntimeName('backend', backend)}/${checkRuntimeName('server', server)}`;
}

export function setWeightCommand(backend: string, server: string, weight: number): string {
  if (!Number.isInteger(weight) || weight < 0 || weight > 256) {
    throw new SidecarError('FORBIDDEN', `HAProxy weight must be an integer 0..256, got ${weight}`, { weight });
  }
  return `set server ${serverRef(backend, server)} weight ${weight}`;
}

export function setStateCommand(backend: string, server: string, state: ServerAdminState): string {
  if (!SERVER_ADMIN_STATES.includes(state)) {
    throw new SidecarError('FORBIDDEN', `HAProxy server state must be one of ${SERVER_ADMIN_STATES.join(', ')}, got ${JSON.stringify(state)}`, { state });
  }
  return `set server ${serverRef(backend, server)} state ${state}`;
}

export function showServersStateCommand(backend?: string): string {
  return backend === undefined ? 'show servers state' : `show servers state ${checkRuntimeName('backend', backend)}`;
}

export const SHOW_STAT_COMMAND = 'show stat';

/** Several checked commands on one line: HAProxy runs them back to back in one CLI session. */
export function joinCommands(lines: string[]): string {
  for (const l of lines) {
    // Each line comes from a builder above over checked names: a separator is a programming mistake (INTERNAL), not a refusal.
    if (/[;\n\r]/.test(l)) throw new Error(`command ${JSON.stringify(l)} contains a separator`);
  }
  return lines.join('; ');
}

import { OPERATION_NAME_PATTERN } from '../../../catalog/operation-names';
import { TEAM_NAME_PATTERN } from '../../../catalog/teams-file';

/**
 * Checks on names that become keys in the store. SQL is always parameterised;
 * these keep keys within column sizes and readable in `sidecarctl locks`. The
 * transport validates params with the catalog schemas first, so a failure here
 * is a programming error, reported as a RangeError naming the value.
 */
export const SCOPE_PATTERN = /^(global|team:[a-z][a-z0-9_-]{0,39})$/;
export const BREAKER_NAME_PATTERN = /^[a-z][a-z0-9_]{0,80}(:[a-z][a-z0-9_-]{0,39})?$/;
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,254}$/;

function check(kind: string, value: string, pattern: RegExp): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new RangeError(`invalid ${kind} ${JSON.stringify(value)}: expected ${pattern.source}`);
  }
  return value;
}

export const checkTeam = (team: string): string => check('team name', team, TEAM_NAME_PATTERN);
export const checkOperation = (op: string): string => check('operation name', op, OPERATION_NAME_PATTERN);
export const checkScope = (scope: string): string => check('leadership scope', scope, SCOPE_PATTERN);
export const checkBreakerName = (name: string): string => check('breaker name', name, BREAKER_NAME_PATTERN);
export const checkInstanceId = (id: string): string => check('instance id', id, INSTANCE_ID_PATTERN);

const hasControlCharacter = (v: string): boolean => [...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

export function checkText(kind: string, value: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || hasControlCharacter(value)) {
    throw new RangeError(`invalid ${kind}: expected 1-${max} printable characters`);
  }
  return value;
}

/** Times in messages: second precision, UTC. */
export const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The one rule for an operation's name (a lock's `<team>:<operation>` part, what a
 * coordination step or a proposal is for), shared by the method schemas, the store
 * and the steps. 1-50 characters: coordination_locks.operation_type and
 * deployment_audit.operation_type are VARCHAR(50), and team max 40 + ':' + 50 fits
 * lock_name VARCHAR(100). No ':' — a lock name is split at its colon into team and operation.
 */
export const OPERATION_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,50}$/;
export const OPERATION_NAME_RULE = 'expected 1-50 characters of [A-Za-z0-9_.-]';

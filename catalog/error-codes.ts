/**
 * Domain error codes carried in JSON-RPC `error.data.code`. Part of the contract:
 * acceptance checks and generated Groovy steps match on these strings.
 */
export const ERROR_CODES = [
  'UNAUTHORIZED',
  'FORBIDDEN',
  'LOCK_HELD',
  'FENCED',
  'NOT_LEADER',
  'CONSENSUS_DENIED',
  'BREAKER_OPEN',
  'SLI_BREACH',
  'TIMEOUT',
  'DEPENDENCY_DOWN',
  'CONFLICT',
  'NOT_FOUND',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Why a call was refused with CONFLICT, carried in `error.data.reason`: CONFLICT alone
 * covers unrelated refusals, and a client (sidecarctl, a pipeline) must tell "retry
 * later" from "fix the teams file" without reading the message. A closed list: a new
 * refusal adds its reason here, and the step reference documents it.
 */
export const CONFLICT_REASONS = {
  operation_running: 'another operation holds the same one-at-a-time slot (e.g. a switch or a migration of the team); wait for it (operation.attach) or stop it',
  idempotency_key_reused: 'the idempotencyKey already belongs to an operation of another method; use a new key',
  idempotency_key_pending: 'the idempotencyKey belongs to an operation that is just being started; retry the call',
  in_flight_limit: 'the token already has as many calls or dashboard streams open as it may; wait for one to finish',
  caller_gone: 'the caller stopped following the operation; the operation goes on (operation.attach follows it again)',
  ended_without_result: 'the operation ended without recording a result or an error',
  halted: 'an emergency stop halted the operation',
  aborted: 'a person aborted the switch (with hold: the weights stay where they were; without: traffic went back to the source)',
  control_refused: 'the pause, resume, promote or abort does not fit the state the switch is in (already paused, being promoted or aborted)',
  interrupted_by_restart: 'a sidecar restart interrupted the operation; recovery brought it to a safe state, start it again',
  webhook_refused: "the team's pre-switch webhook refused the switch; nothing was changed",
  target_not_ready: 'the target environment is not up or failed validation; deploy or fix it first, no traffic was moved',
  target_serving: 'the environment carries traffic; move traffic away first',
  foreign_resource: 'a container or volume of that name exists without the sidecar\'s labels; remove or rename it by hand',
  invalid_team_config: 'a name or path in the teams file or the sidecar config cannot be used as it is; fix it there',
  controller_file_unusable: "a secret or library the controller reads is not usable (wrong type, empty, readable by all, several lines); fix the file",
  invalid_details: 'a field of the free-form details is not in the expected form',
  haproxy_refused: 'HAProxy refused a Runtime API command',
  not_participant: 'the voter was not a live participant when the proposal was made',
  backup_unreadable: "the backup's manifest cannot be read; restore another backup",
  checksum_mismatch: 'the backup failed its sha256 manifest check; restore another backup',
  state_not_reached: 'Jenkins does not report the state the call asked for; check its logs and retry',
  jobs_missing: 'after a state migration the target lacks jobs of the source; check its logs for load errors',
  same_environment: 'source and target name the same environment',
} as const satisfies Record<string, string>;

export type ConflictReason = keyof typeof CONFLICT_REASONS;

export const isConflictReason = (r: unknown): r is ConflictReason => typeof r === 'string' && Object.hasOwn(CONFLICT_REASONS, r);

/**
 * How a long operation ended when it did not succeed, carried on the wire in
 * `error.data.operationStatus` (the journal's status of the operation).
 */
export const OPERATION_OUTCOMES = ['failed', 'rolled_back', 'aborted'] as const;

export type OperationOutcome = (typeof OPERATION_OUTCOMES)[number];

export const isOperationOutcome = (s: unknown): s is OperationOutcome => typeof s === 'string' && (OPERATION_OUTCOMES as readonly string[]).includes(s);

/** JSON-RPC 2.0 protocol-level codes. Domain errors use -32000 with data.code. */
export const RPC_CODES = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  DOMAIN_ERROR: -32000,
} as const;

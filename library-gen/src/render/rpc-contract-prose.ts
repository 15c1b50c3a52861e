/**
 * The prose of docs/rpc-contract.md around the generated method tables: what the
 * transport does for every method, and per method what its schemas cannot say
 * (errors, refusals, defaults taken from elsewhere). Shapes come from the schemas
 * (catalog/methods), never from here.
 */

export const RPC_CONTRACT_INTRO = [
  'JSON-RPC 2.0 over WebSocket at `/rpc` (see `../shared/design/BRIEF.md` for auth, error codes and',
  'notifications). Params are camelCase; every mutating method also accepts `idempotencyKey`',
  '(string, 1–200 chars of `[A-Za-z0-9_.:#/@-]`), handled by the transport: the same key re-attaches',
  'to the same operation. Each method\'s zod schema lives in `catalog/methods/<area>.ts`; the sidecar',
  'validates with it and `rpc.discover` returns it. Team names follow `TEAM_NAME_PATTERN`',
  '(`catalog/teams-file.ts`); environments are `blue` | `green`.',
  '',
  'The caller\'s Jenkins build, when there is one, travels as the optional param `build`',
  '(`<JOB_NAME>#<BUILD_NUMBER>`, e.g. `devops/Infrastructure/Self-Managed-Blue-Green-Switch#41`) on',
  'every method; it is recorded in the audit and the journal (`Actor.build`).',
  '',
  '**Idempotency keys belong to a team.** The journal keeps a key as `team:<team>/<key>` (a method',
  'without a `team` param: `token:<token id>/<key>`), so the same key re-attaches only to an operation',
  'of the same team, for a caller allowed on that team; another team\'s token with the same key starts',
  'its own operation. The same key for another method of the same team is `CONFLICT` (audited).',
  'Keys that would not fit the journal\'s 200 characters are kept as `<scope>sha256:<hex>`.',
  '',
  '**Team tokens keep to their teams.** `leadership.establish` without `team` (the global lease) needs',
  'the ops token; `coordination.update` records only teams of the teams file (`NOT_FOUND` otherwise,',
  'as every team-taking method); `rollback.emergency` takes the team\'s own token or the ops token.',
  '',
  '**What the edge refuses (-32602, naming the field).** Before any schema, every string value and key',
  'of the params is checked for what PostgreSQL cannot store — a NUL (U+0000) or a lone UTF-16',
  'surrogate (`\\ud800`) — and nesting deeper than 32 levels (agent/src/rpc/param-bounds.ts).',
  '`details` (coordination.update, consensus.request, coordination.execute) has keys of',
  '`[A-Za-z0-9_.:@/-]` (1–64), at most 8 levels and 16 KiB of JSON (catalog/methods/details-param.ts).',
  'Operation names (`coordination.update`, `consensus.request`, `leadership.establish`) are 1–50',
  'characters of `[A-Za-z0-9_.-]` (catalog/operation-names.ts, also the lock operation: a lock is `<team>:<operation>`), the width of `deployment_audit.operation_type`. A refused call of a',
  'mutating method (invalid params, FORBIDDEN, the in-flight limit) still leaves its FAILURE audit row',
  '(`metadata.refused: true`, the param names and the error; never the refused text), written before',
  'the answer. An audit row keeps params up to 32 KiB (else their names and size); an',
  '`/api/v1/audit` page is at most 1 MiB of JSON and says `"truncated": true` when rows were left off.',
  '',
  '**Transport details (agent/src/rpc/).** The transport removes `idempotencyKey` and `build` from',
  '`params` before validating them against the method\'s schema (so schemas do not list them);',
  'handlers read them as `call.idempotencyKey` and `call.actor.build`. An `idempotencyKey` on a',
  'non-mutating method is ignored. Short mutating methods (`lock.*`, `leadership.establish`,',
  '`coordination.update`) are journaled only when they carry an `idempotencyKey`; long ones always',
  'run under the journal through `OperationRunner.run` (agent/src/operations/runner.ts). A body ends',
  '`succeeded` when it returns, `failed` when it throws, or with the status named by the thrown',
  'error\'s `outcome` (`rolled_back`, `aborted`; sent as `error.data.operationStatus`); `aborted` when',
  'it throws after the runner\'s signal fired (shutdown). Every `CONFLICT` names why in',
  '`error.data.reason`, one of the closed list in `catalog/error-codes.ts` (`CONFLICT_REASONS`, listed',
  'in docs/steps.md "Why a CONFLICT"). Progress events `{phase, message, ...}` get `operationId`',
  'added. Every mutating call is audited by the dispatcher (token id, build, params, outcome) except a',
  'successful `coordination.update`, which IS an audit record (its failures and refusals are audited',
  'like any other call); the row is durable before the answer is sent. A',
  'successful `lock.acquire`/`lock.renew`/`lock.release` without `idempotencyKey` has its row written by',
  'the store in the lock change\'s own transaction (`CallContext.audit`, one commit per call). Limits (env): `SIDECAR_MAX_PAYLOAD_BYTES`',
  '(1 MiB; larger messages close the socket with 1009), `SIDECAR_MAX_CONNECTIONS_PER_TOKEN` (64;',
  'HTTP 429 on upgrade), `SIDECAR_MAX_IN_FLIGHT_PER_TOKEN` (32; `CONFLICT`). New areas register',
  'handlers with `register<Area>Methods(registry, deps)` (pattern: agent/src/rpc/methods/core.ts).',
  'A call that fails because PostgreSQL cannot be reached (connection refused/reset/timed out, pool',
  'connect timeout, "Connection terminated", SQLSTATE 57P0x/08xxx/53300) answers `DEPENDENCY_DOWN`',
  '(`data.dependency: "postgres"`), mapped once in the dispatcher (agent/src/store/pg-unreachable.ts).',
  'On shutdown the sidecar answers every call it received (bounded by `SIDECAR_SHUTDOWN_GRACE_SEC`)',
  'before it closes the sockets.',
  '',
  '**sidecarctl output.** Progress lines on stderr are `progress: <JSON of the notification params>`.',
  'On exit 3 stderr starts with `sidecarctl: <CODE>: <message>` (CODE = `error.data.code`, or',
  '`PARSE_ERROR`/`INVALID_REQUEST`/`METHOD_NOT_FOUND`/`INVALID_PARAMS`/`INTERNAL_ERROR`), and a',
  '`--result-file` then holds `{"error": {code, message, data, symbolicCode}}`. A call whose params',
  'carry an `idempotencyKey` is retried with the same key (so it re-attaches to the same operation)',
  'when the sidecar is unreachable or the connection drops, for up to `SIDECARCTL_RECONNECT_SEC`',
  '(default 120); without a key it exits 4 at once.',
  '',
  '**No tokens file (local try-out).** Without `SIDECAR_TOKENS_FILE` the sidecar accepts exactly one',
  'ops token, generated once into `<SIDECAR_DATA_DIR>/ops-token` (mode 600, reused on restart);',
  '`export SIDECAR_TOKEN="$(cat <data dir>/ops-token)"`.',
].join('\n');

const TRAFFIC_NOTE = [
  'traffic.switch also takes `minSamples`=20 (requests a window needs before error rate / response time',
  'count), `maxWindowSec` (default 3 × validationSec: a short window is extended up to this),',
  '`onInsufficientSamples`=\'rollback\'|\'hold\', `holdSec`=600, `drainTimeoutSec`=30, `readyTimeoutSec`=30,',
  '`sampleIntervalMs`=1000. Errors: `FENCED` (lockToken), `BREAKER_OPEN`, `CONFLICT` (target not UP,',
  'pre-switch webhook refused, halted by an emergency rollback — operation status `aborted`),',
  '`SLI_BREACH` / `TIMEOUT` (rolled back; `error.data` has `step`, `breaches[]`, `figures`, `errorRate`,',
  '`responseTimeMs`, `rollbackMs`, `detectedAt`, `rolledBackAt`; operation status `rolled_back`). One',
  'switch per team runs at a time (journal `exclusive` key `traffic.switch:<team>`).',
].join('\n');

const TRAFFIC_CONTROL_NOTE = [
  'The four commands act on the switch running on the sidecar called (NOT_FOUND otherwise; with `operationId` also when',
  'the running switch is another one) and are refused with `FENCED` when that switch lost its lock to a newer owner, or',
  '`CONFLICT` (reason `control_refused`) when they make no sense in its state (resume when not paused, anything once an',
  'abort was asked). Each is journaled in the switch\'s own operation (step `control`) and audited with who and why.',
].join('\n');

/** Per area (catalog/methods/index.ts METHOD_AREAS): what its table cannot say, printed below it. */
export const AREA_NOTES: Readonly<Record<string, string>> = {
  traffic: TRAFFIC_NOTE,
  'traffic control': TRAFFIC_CONTROL_NOTE,
};

/** Per method: behaviour beside its shape. */
export const METHOD_NOTES: Readonly<Record<string, string>> = {
  'lock.acquire': '`owner` defaults to the token identity (the steps pass the build).',
  'leadership.establish': 'Without `team` the scope is `global` (ops token only).',
  'environment.status': '`buildSwitch`: the latest `traffic.switch` started by the call\'s `build`. With `containers: true` (as `sidecarctl status --team` asks) Docker is asked with a 1.5 s bound, never an error.',
  'coordination.update': '`status` null is SUCCESS.',
  'traffic.switch': '`SLI_BREACH` error on rollback (see below).',
  'rollback.emergency': 'With PostgreSQL unreachable the weights are applied at once and the records follow (docs/traffic.md).',
  'environment.deploy': '`graceSec`: stop of the container being replaced. CONFLICT when the target\'s container runs and carries traffic (desired weight > 0) or a same-named container/volume lacks the sidecar\'s labels.',
  'environment.stop': 'Refused with CONFLICT for the serving side; the volume is kept.',
  'environment.validate': '`source` defaults to the other side when it runs; `requiredAgents` to the team\'s `required_agents`.',
  'state.migrate': '`callerBuild` (the build asking, not waited for) defaults to the call\'s `build`. Any failure cancels the quiet-down of the source. TIMEOUT names the builds still running.',
  'environment.quietDown': 'Quieting down a controller that is not running is NOT_FOUND. Holds `environments:<team>` (CONFLICT while a migration runs). The self-managed switch calls it in `post { failure }` to give the migration\'s source its builds back.',
  'backup.create': '`environment` defaults to the active side.',
  'backup.restore': 'Refuses the serving side and a backup failing its sha256 manifest check (CONFLICT, `data.reason: checksum_mismatch`).',
  'coordination.execute':
    'Per team: deploy the idle side → state.migrate → environment.validate → traffic.switch (lock `<team>:blue_green_switch` taken inside); the first failing team stops the rollout and the call fails with that team\'s code, `data.outcomes` listing all.',
};

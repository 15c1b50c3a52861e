import { OPERATION_PATTERN } from './common-params';
import { DEFAULT_TRIGGERS } from '../triggers';
import type { StepSpec } from './step-spec';

/** Progressive traffic switch, emergency rollback and breakers. */
export const TRAFFIC_STEPS: StepSpec[] = [
  {
    name: 'progressiveTrafficSwitch',
    summary: 'Move traffic to the target environment in increments, checking SLIs at each step.',
    description: [
      "The sidecar owns the switch from start to end: it moves HAProxy weights step by step (default 5, 10, 25, 50, 100 %), samples the SLIs for validationTime seconds at each step and rolls back by itself when a trigger fires, even if this build dies. The step follows its progress in the console.",
      'It needs the lock <team>:blue_green_switch taken by this build (acquireInfrastructureLock); its fencing token is passed as lockToken. Before switching, the step renews that lease to twice the sampling time of all increments plus ten minutes, so a long deployment before it does not leave the switch with an expired lock.',
      "Rollback triggers: one string each, e.g. 'error_rate > 2%', 'response_time > 2000ms', 'availability < 99.5%'. They are checked here and again by the sidecar.",
      "syncTarget (default true): before any traffic moves, the sidecar brings the target up to date with the source while the target serves nobody (a pre-copy while the source keeps building, then a quiet-down of the source, a wait for its running builds, the copy of what changed and a reload of the target), then lifts the source's quiet-down (unless it was quieting down already). So a migrateRuntimeState after the switch finds nothing to reload on the side that then serves everyone. The cost: no build can start on the source from its quiet-down until the target has reloaded (usually seconds), and the switch first waits for builds running on the source to end (this build excepted: Jenkins reports its executors with the build's URL; at most 300 s, naming the running builds in the console meanwhile; longer fails the switch before any traffic moved, and the quiet-down is lifted). Pass syncTarget: false when the pipeline migrated just before the switch, or when nothing on the source may wait.",
    ],
    rpc: 'traffic.switch',
    alsoCalls: ['lock.renew (extends the lease to cover the switch)'],
    mutating: true,
    team: true,
    discriminator: 'target',
    template: 'progressiveTrafficSwitch',
    params: [
      { name: 'target', type: 'environment', required: true, doc: 'Environment to move traffic to.', rpc: 'target' },
      { name: 'increments', type: 'integerList', default: [5, 10, 25, 50, 100], min: 1, max: 100, doc: 'Percentages of traffic on the target, ascending, ending at 100.', rpc: 'increments' },
      { name: 'validationTime', aliases: ['validation_time', 'validationSec', 'validation_sec'], type: 'duration', default: 60, min: 1, max: 3600, doc: 'SLI sampling time at each increment.', rpc: 'validationSec' },
      { name: 'rollbackTriggers', aliases: ['rollback_triggers', 'triggers'], type: 'triggerList', default: [...DEFAULT_TRIGGERS], doc: 'Conditions that roll the switch back.', rpc: 'triggers' },
      { name: 'minSamples', aliases: ['min_samples'], type: 'integer', min: 1, max: 100000, doc: 'Fewest samples per increment before a verdict (sidecar default when absent).', rpc: 'minSamples' },
      { name: 'lockOperation', aliases: ['lock_operation'], type: 'string', default: 'blue_green_switch', pattern: OPERATION_PATTERN.slice(1, -1), doc: 'Operation of the lock this build holds for the switch.', rpc: 'lockOperation' },
      { name: 'syncTarget', aliases: ['sync_target'], type: 'boolean', default: true, doc: "Bring the target up to date with the source before it gets traffic (quiets the source down and waits for its running builds, this build excepted).", rpc: 'syncTarget' },
    ],
    returns: 'Map: status (promoted), steps (each increment with its samples).',
    failures: ['SLI_BREACH when a trigger fired and the sidecar rolled back (traffic is back on the old side).', 'FENCED when this build no longer holds the lock.', 'BREAKER_OPEN when switches are paused after repeated failures.'],
    example: "progressiveTrafficSwitch(target: params.TARGET_ENVIRONMENT, increments: [5, 10, 25, 50, 100], validation_time: 60,\n    rollback_triggers: ['error_rate > 2%', 'response_time > 2000ms', 'availability < 99.5%'])",
  },
  {
    name: 'executeEmergencyRollback',
    summary: 'Put all traffic back on a known-good environment now.',
    description: [
      "Moves all traffic to target (default: the last known good side) at once and records the reason. In post { failure } pass target: getPreviousEnvironment(), the side that served before this build's switch.",
    ],
    rpc: 'rollback.emergency',
    mutating: true,
    team: true,
    discriminator: 'target',
    params: [
      { name: 'reason', type: 'string', required: true, doc: 'Why (recorded in the audit).', rpc: 'reason' },
      { name: 'target', aliases: ['environment'], type: 'environment', doc: 'Side to put traffic on. Default: the last known good side.', rpc: 'target' },
    ],
    returns: 'Map: active, weights ([blue, green]).',
    failures: ['DEPENDENCY_DOWN when HAProxy cannot be reached.'],
    example: "executeEmergencyRollback(reason: 'blue_green_switch_failure', target: getPreviousEnvironment())",
  },
  {
    name: 'getBreakerStatus',
    summary: "The team's circuit breakers (closed, open, half_open).",
    description: ['Lists the circuit breakers the sidecar keeps for the team, e.g. to skip a switch while infrastructure modification is paused.'],
    rpc: 'breaker.status',
    mutating: false,
    team: true,
    params: [],
    returns: 'Map: breakers (list of [name, state, failures, openedAt, retryAt]).',
    failures: ['Sidecar errors only.'],
    example: "def open = getBreakerStatus().breakers.findAll { it.state == 'open' }",
  },
];

import type { StepSpec } from './step-spec';

/** The six validation checks of the switch pipeline (Pipeline A). */
export const VALIDATION_CHECKS = [
  'container_health',
  'api_responsiveness',
  'job_restoration',
  'plugin_compatibility',
  'user_access',
  'agent_connectivity',
];

/** Environment state, deployment, migration and validation. */
export const ENVIRONMENT_STEPS: StepSpec[] = [
  {
    name: 'getCurrentEnvironment',
    summary: "The environment this build's change started from (a plain string, 'blue' or 'green').",
    description: [
      "Meaning: the side that was serving when this build's traffic switch started. Before the switch (the generated self-managed switch migrates state first) that is the side serving now, so `migrateRuntimeState(source: getCurrentEnvironment(), target: params.TARGET_ENVIRONMENT)` copies from the serving side to the idle one; after a completed switch it is still the side traffic moved AWAY from (a pipeline that migrates after its switch stage gets the same source). When this build has started no switch, it is the side serving now.",
      "It reads environment.status with this build's id and uses buildSwitch.from, the latest switch started by this build; other builds' switches do not change the answer.",
    ],
    rpc: 'environment.status',
    mutating: false,
    team: true,
    template: 'environmentGetter',
    params: [],
    returns: "String: 'blue' or 'green'.",
    failures: ['NOT_FOUND when the team is unknown to the sidecar.'],
    example: 'def source = getCurrentEnvironment()',
  },
  {
    name: 'getPreviousEnvironment',
    summary: "The environment to fall back to if this build's change fails (a plain string).",
    description: [
      "Meaning: the side that served before this build's switch (buildSwitch.from). That is the right target for `executeEmergencyRollback(target: getPreviousEnvironment())` in post { failure }, whether the switch completed, stopped halfway or was rolled back already. When this build has started no switch it is the side serving now (there is nothing to undo), never the 'previous' side of an older switch.",
    ],
    rpc: 'environment.status',
    mutating: false,
    team: true,
    template: 'environmentGetter',
    params: [],
    returns: "String: 'blue' or 'green'.",
    failures: ['NOT_FOUND when the team is unknown to the sidecar.'],
    example: "executeEmergencyRollback(reason: 'blue_green_switch_failure', target: getPreviousEnvironment())",
  },
  {
    name: 'executeAnsiblePlaybook',
    summary: "Run ansible-playbook on the agent, extra vars passed as a JSON file.",
    description: [
      "Runs the real ansible-playbook (Debian's ansible / ansible-core) on the agent. extraVars are written to a JSON file and passed as -e @file, never interpolated into a command line. A playbook that is not in the workspace is taken from the library's resources: the library ships deploy-jenkins-environment.yml, which deploys target_environment of the team through the sidecar (sidecarctl call environment.deploy).",
      "The team, the build and the sidecar token are passed to the playbook as JSM_TEAM, JSM_BUILD and SIDECAR_TOKEN in its environment.",
    ],
    rpc: null,
    alsoCalls: ['environment.deploy (through the shipped playbook)'],
    mutating: true,
    team: true,
    template: 'executeAnsiblePlaybook',
    params: [
      { name: 'playbook', type: 'string', required: true, pattern: '[A-Za-z0-9_./-]{1,200}', doc: 'Playbook path in the workspace, or the name of one the library ships.' },
      { name: 'extraVars', aliases: ['extra_vars'], type: 'map', default: {}, doc: 'Variables for the playbook (-e @file.json).' },
      { name: 'inventory', type: 'string', default: 'localhost,', pattern: '[A-Za-z0-9_.,/:-]{1,200}', doc: 'Inventory (-i); the default runs on the agent itself.' },
      { name: 'check', type: 'boolean', default: false, doc: 'Dry run (--check).' },
    ],
    returns: 'Integer: the exit code (0).',
    failures: ["The playbook's failure ends the build with its exit code; the console shows ansible's output."],
    example: "executeAnsiblePlaybook(playbook: 'deploy-jenkins-environment.yml', extraVars: [target_environment: 'green'])",
  },
  {
    name: 'migrateRuntimeState',
    summary: 'Copy configuration state from the source controller to the target and reload it.',
    description: [
      "The sidecar copies jobs and configuration to the target while the source still builds (pre-copy), then quiets the source down, waits until its executors are idle and copies only what changed since (delta, deletions included); it reloads the target only when the copy changed something there, and verifies that the target lists every job the source has. Builds cannot start on the source only for the drain, the delta and the reload (windowSec). The calling build runs on the source itself, so it is passed as callerBuild and not waited for.",
      "Migrate into the idle side BEFORE moving traffic to it: the target's reload then answers 503 to nobody. On success the source stays quieting down (a build started there after the copy would lose its record when traffic leaves); when the switch that follows fails, lift it with quietDownEnvironment(environment: getPreviousEnvironment(), cancel: true). Any failure of the migration itself lifts it already.",
    ],
    rpc: 'state.migrate',
    mutating: true,
    team: true,
    discriminator: 'target',
    template: 'migrateRuntimeState',
    params: [
      { name: 'source', type: 'environment', required: true, doc: 'Environment to copy from: the side serving now (getCurrentEnvironment()).', rpc: 'source' },
      { name: 'target', type: 'environment', required: true, doc: 'Environment to copy to.', rpc: 'target' },
      { name: 'timeout', aliases: ['timeoutSec', 'timeout_sec'], type: 'duration', default: 600, min: 10, max: 7200, doc: 'Longest wait for idle executors and the copy.', rpc: 'timeoutSec' },
    ],
    returns: 'Map: jobs (copied), waitedSec, sourceQuietingDown (true: the source stays quiet).',
    failures: ['TIMEOUT when the source does not become idle in time; CONFLICT when source equals target.'],
    example: 'migrateRuntimeState(source: getCurrentEnvironment(), target: params.TARGET_ENVIRONMENT)',
  },
  {
    name: 'quietDownEnvironment',
    summary: "Put an environment's Jenkins into quiet-down, or lift it (cancel: true).",
    description: [
      "A controller in quiet-down starts no new builds. migrateRuntimeState leaves the source in quiet-down after a successful copy, because traffic is about to leave it. When the switch that follows fails or rolls back, the source keeps serving and must build again: call quietDownEnvironment(environment: getPreviousEnvironment(), cancel: true) in post { failure }.",
      "The sidecar reads the state back from Jenkins and returns it. Lifting quiet-down on a controller that is not running does nothing (Jenkins starts without one). The call waits for no running migration of the team: while one runs it fails with CONFLICT.",
    ],
    rpc: 'environment.quietDown',
    mutating: true,
    team: true,
    template: 'quietDownEnvironment',
    params: [
      { name: 'environment', aliases: ['target'], type: 'environment', required: true, doc: 'Environment whose controller to quiet down or release.', rpc: 'environment' },
      { name: 'cancel', type: 'boolean', default: false, doc: 'true lifts the quiet-down; false (default) starts it.', rpc: 'cancel' },
      { name: 'reason', type: 'string', pattern: '[A-Za-z0-9][A-Za-z0-9 _.,:()/-]{0,199}', doc: 'Message Jenkins shows while quieting down.', rpc: 'reason' },
    ],
    returns: 'Map: environment, running, quietingDown (what Jenkins reports now), changed.',
    failures: ['NOT_FOUND when quieting down a controller that is not running; CONFLICT while a migration or deployment of the team runs, or when Jenkins does not report the asked state.'],
    example: 'quietDownEnvironment(environment: getPreviousEnvironment(), cancel: true)',
  },
  {
    name: 'validateEnvironmentHealth',
    summary: 'Run the health checks on an environment; the build fails when one fails.',
    description: [
      'Runs the checks (default: all six) against the environment and prints each with its figure. When a check fails the step fails the build (so post { failure } rolls back), unless failOnError is false.',
    ],
    rpc: 'environment.validate',
    mutating: false,
    team: true,
    template: 'validateEnvironmentHealth',
    params: [
      { name: 'environment', aliases: ['target'], type: 'environment', required: true, doc: 'Environment to validate.', rpc: 'environment' },
      { name: 'checks', type: 'stringList', enum: VALIDATION_CHECKS, default: VALIDATION_CHECKS, doc: 'Checks to run.', rpc: 'checks' },
      { name: 'source', type: 'environment', doc: 'Environment to compare against (job_restoration, plugin_compatibility).', rpc: 'source' },
      { name: 'failOnError', aliases: ['fail_on_error'], type: 'boolean', default: true, doc: 'Fail the build when a check fails.' },
    ],
    returns: 'Map: passed (boolean), checks (list of [name, passed, figure, reason]).',
    failures: ['SLI_BREACH-like failure: "validateEnvironmentHealth: <checks> failed" when a check fails (unless failOnError: false).'],
    example: "validateEnvironmentHealth(environment: params.TARGET_ENVIRONMENT, checks: ['container_health', 'api_responsiveness'])",
  },
];

import type { StepSpec } from './step-spec';

/** The six validation checks of the seed's Pipeline A. */
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
      "Meaning: the side that was serving when this build's traffic switch started. After a completed switch this is the side traffic moved AWAY from, so `migrateRuntimeState(source: getCurrentEnvironment(), target: params.TARGET_ENVIRONMENT)` copies from the old side to the new one (as the seed's Pipeline A does after its switch stage). When this build has started no switch, it is the side serving now.",
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
      "The sidecar quiets the source down, waits until its executors are idle, copies jobs and configuration to the target, reloads and verifies it. The calling build runs on the source itself, so it is passed as callerBuild and not waited for.",
    ],
    rpc: 'state.migrate',
    mutating: true,
    team: true,
    discriminator: 'target',
    template: 'migrateRuntimeState',
    params: [
      { name: 'source', type: 'environment', required: true, doc: 'Environment to copy from (after a switch: getCurrentEnvironment()).', rpc: 'source' },
      { name: 'target', type: 'environment', required: true, doc: 'Environment to copy to.', rpc: 'target' },
      { name: 'timeout', aliases: ['timeoutSec', 'timeout_sec'], type: 'duration', default: 600, min: 10, max: 7200, doc: 'Longest wait for idle executors and the copy.', rpc: 'timeoutSec' },
    ],
    returns: 'Map: jobs (copied), waitedSec.',
    failures: ['TIMEOUT when the source does not become idle in time; CONFLICT when source equals target.'],
    example: 'migrateRuntimeState(source: getCurrentEnvironment(), target: params.TARGET_ENVIRONMENT)',
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

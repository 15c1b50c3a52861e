import { OPERATION_PATTERN, operationParam } from './common-params';
import type { StepSpec } from './step-spec';

const LOCK_TIMEOUT = {
  name: 'timeout',
  aliases: ['ttl', 'ttlSec', 'ttl_sec'],
  type: 'duration' as const,
  default: 600,
  min: 10,
  max: 86400,
  doc: 'Lease length: the lock expires by itself this long after it was taken (the generated switch pipeline passes 30m). A stale holder is fenced.',
  rpc: 'ttlSec',
};
const LOCK_WAIT = {
  name: 'wait',
  aliases: ['waitSec', 'wait_sec'],
  type: 'duration' as const,
  default: 0,
  min: 0,
  max: 3600,
  doc: 'How long to wait for a lock someone else holds before failing with LOCK_HELD.',
  rpc: 'waitSec',
};

/** Infrastructure locks: leases with a fencing token, owned by the build. */
export const LOCK_STEPS: StepSpec[] = [
  {
    name: 'acquireInfrastructureLock',
    summary: 'Take the team lock <team>:<operation>, owned by this build.',
    description: [
      'The lock is named from the team and the operation; its owner is this build (JOB_NAME#BUILD_NUMBER), so releaseInfrastructureLock() without arguments releases it, and the same build asking again gets the same grant back.',
      "The fencing token is kept in the build environment (JSM_LOCK_TOKEN_<TEAM>_<OPERATION>, upper-cased, other characters as _) and passed by progressiveTrafficSwitch as lockToken: the sidecar refuses to move traffic for a holder whose lease has been taken over (FENCED).",
    ],
    rpc: 'lock.acquire',
    mutating: true,
    team: true,
    discriminator: 'operation',
    template: 'acquireInfrastructureLock',
    params: [
      operationParam('What the lock protects; the lock is named <team>:<operation>.', { default: 'blue_green_switch' }),
      LOCK_TIMEOUT,
      LOCK_WAIT,
      { name: 'coordinator', type: 'string', doc: 'Who coordinates (the generated switch pipeline passes currentBuild.projectName); shown in the console. The owner is always the build.' },
    ],
    returns: 'Map: lockName, token (fencing, integer), expiresAt, holder.',
    failures: ['LOCK_HELD when another owner holds it past wait (the message names the holder and the expiry).', 'BREAKER_OPEN when infrastructure modification is paused.'],
    example: "acquireInfrastructureLock(operation: 'blue_green_switch', timeout: '10m', coordinator: currentBuild.projectName)",
  },
  {
    name: 'releaseInfrastructureLock',
    summary: 'Release the locks this build holds (a quiet no-op when it holds none).',
    description: [
      "Without operation it releases every lock this build took with acquireInfrastructureLock (recorded in JSM_HELD_LOCKS); with operation, that one lock as far as this build owns it. Holding nothing is not an error: it runs in post { always } even when the build failed before taking any lock.",
    ],
    rpc: 'lock.release',
    mutating: true,
    team: true,
    discriminator: 'operation',
    template: 'releaseInfrastructureLock',
    params: [operationParam('Release only this lock (<team>:<operation>). Default: every lock this build took.')],
    returns: 'Map: released (true when at least one lock was released), operations (the operations released).',
    failures: ['Only a sidecar that cannot be reached; a lock that is no longer held is not an error.'],
    example: 'releaseInfrastructureLock()',
  },
  {
    name: 'withInfrastructureLock',
    summary: 'Run a block while holding the team lock; the lock is always released afterwards.',
    description: [
      'Block form of acquireInfrastructureLock/releaseInfrastructureLock: the lock is released when the block ends, whether it succeeded or threw. Inside the block env.JSM_LOCK_TOKEN holds the fencing token.',
    ],
    rpc: 'lock.acquire',
    alsoCalls: ['lock.release'],
    mutating: true,
    block: true,
    team: true,
    discriminator: 'name',
    template: 'withInfrastructureLock',
    params: [
      { name: 'name', aliases: ['operation'], type: 'string', required: true, pattern: OPERATION_PATTERN.slice(1, -1), doc: 'The operation the lock protects; the lock is named <team>:<name>.', rpc: 'operation' },
      LOCK_TIMEOUT,
      LOCK_WAIT,
    ],
    returns: 'Whatever the block returns.',
    failures: ['LOCK_HELD as acquireInfrastructureLock; the block\'s own exception after the lock was released.'],
    example: "withInfrastructureLock(name: 'plugin_update', timeout: '30m') {\n    sh './update-plugins.sh'\n}",
  },
];

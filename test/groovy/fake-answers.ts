/** Canned sidecar answers for the fake sidecarctl, shaped as docs/rpc-contract.md says. */
export function defaultAnswers(team: string, build: string): Record<string, unknown> {
  return {
    'leadership.establish': { scope: `team:${team}`, leader: 'sc-test', token: 3, expiresAt: '2026-11-27T00:10:00.000Z', isLeader: true },
    'consensus.request': { approved: true, reason: 'approved by 1 of 1 (quorum 1)', votes: [{ voter: 'sc-test', approve: true, reason: 'healthy' }], quorum: 1, participants: 1, proposalId: 'p-1' },
    'lock.acquire': { lockName: `${team}:blue_green_switch`, token: 42, expiresAt: '2026-11-27T00:10:00.000Z', holder: build },
    'lock.renew': { lockName: `${team}:blue_green_switch`, token: 42, expiresAt: '2026-11-27T00:20:00.000Z', holder: build },
    'lock.release': { released: true },
    'environment.deploy': { container: `jenkins-${team}-green`, healthy: true, ports: { web: 8180, agent: 50100 }, image: 'jenkins-custom:latest' },
    'traffic.switch': { status: 'promoted', steps: [5, 10, 25, 50, 100].map((w) => ({ weight: w, samples: [] })) },
    'environment.status': { active: 'green', previous: 'blue', weights: { blue: 0, green: 100 }, operation: null, lastKnownGood: 'green', buildSwitch: { from: 'blue', to: 'green', status: 'promoted' } },
    'state.migrate': { jobs: 12, waitedSec: 3, sourceQuietingDown: true },
    'environment.quietDown': { environment: 'blue', container: `jenkins-${team}-blue`, running: true, quietingDown: false, changed: true },
    'environment.validate': {
      passed: true,
      checks: ['container_health', 'api_responsiveness', 'job_restoration', 'plugin_compatibility', 'user_access', 'agent_connectivity'].map((name) => ({ name, passed: true, figure: 'ok', reason: null })),
    },
    'coordination.update': { recorded: true, auditId: 'a-1' },
    'rollback.emergency': { active: 'blue', weights: { blue: 100, green: 0 } },
    'breaker.status': { breakers: [{ name: `infrastructure_modification:${team}`, state: 'closed', failures: 0, openedAt: null, retryAt: null }] },
    'backup.create': { backupId: 'b-1', path: '/var/lib/jenkins-sidecar/backups/b-1.tar', files: 40, bytes: 1234 },
    'backup.list': { backups: [{ backupId: 'b-1' }] },
    'coordination.execute': { operation: 'plugin_update', status: 'succeeded', outcomes: [{ team, status: 'succeeded', from: 'blue', to: 'green', switched: true }] },
  };
}

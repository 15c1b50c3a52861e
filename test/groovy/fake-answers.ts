import { breakerStatus, consensusRequest, coordinationUpdate, environmentStatus, leadershipEstablish, lockAcquire, lockRelease, lockRenew } from '../../catalog/methods/core';
import { backupCreate, backupList, coordinationExecute, environmentDeploy, environmentQuietDown, environmentValidate, stateMigrate, VALIDATION_CHECK_NAMES } from '../../catalog/methods/environment';
import type { MethodResult, MethodSpec } from '../../catalog/methods/method-spec';
import { rollbackEmergency, trafficSwitch } from '../../catalog/methods/traffic';
import { exampleAnswers } from '../../library-gen/src/render/example-answers';

/**
 * Canned sidecar answers for the fake sidecarctl. Every method of catalog/methods
 * answers its generated example (library-gen/src/render/example-answers.ts, from
 * its result schema: a new method needs nothing here); the happy path below, where
 * everything a pipeline asks for succeeds for this team and build, overrides the
 * fields a pipeline reads. Each override is typed by its method's result schema
 * (a field the sidecar does not send, or a wrong type, does not compile) and
 * test/unit/groovy-fake-answers.test.ts parses every merged answer with that
 * schema, so the harness answers as the real sidecar does.
 */
type Answers = Record<string, unknown>;
const generated = exampleAnswers();
const answer = <S extends MethodSpec>(spec: S, value: Partial<MethodResult<S>>): [string, unknown] => {
  const base = generated[spec.name];
  return [spec.name, base && typeof base === 'object' && !Array.isArray(base) ? { ...base, ...value } : value];
};

const figures = { samples: 3, durationMs: 3_000, requests: 40, errors: 0, errorRate: 0, responseTimeMs: 12, availability: 100, held: 0, answered: 40, cpuPercent: 20, memoryPercent: 40, sessionRequests: 0, sessionErrors: 0, synthetic: null };
const backup = { backupId: 'blue-20261127T000000Z-a1b2c3', team: '', environment: 'blue' as const, createdAt: '2026-11-27T00:00:00.000Z', path: '/var/lib/jenkins-sidecar/backups/x', files: 40, bytes: 1234, archiveBytes: 900 };

export function defaultAnswers(team: string, build: string): Answers {
  const migrated = { files: 10, bytes: 2048, sec: 1 };
  return Object.fromEntries([
    ...Object.entries(generated),
    answer(leadershipEstablish, { scope: `team:${team}`, leader: 'sc-test', token: 3, expiresAt: '2026-11-27T00:10:00.000Z', isLeader: true }),
    answer(consensusRequest, { approved: true, reason: 'approved by 1 of 1 (quorum 1)', votes: [{ voter: 'sc-test', approve: true, reason: 'healthy' }], quorum: 1, participants: 1, proposalId: 'p-1' }),
    answer(lockAcquire, { lockName: `${team}:blue_green_switch`, token: 42, expiresAt: '2026-11-27T00:10:00.000Z', holder: build }),
    answer(lockRenew, { lockName: `${team}:blue_green_switch`, token: 42, expiresAt: '2026-11-27T00:20:00.000Z', holder: build }),
    answer(lockRelease, { released: true }),
    answer(environmentDeploy, { container: `jenkins-${team}-green`, environment: 'green', healthy: true, ports: { web: 8180, agent: 50100 }, image: 'jenkins-custom:latest', volume: `jenkins-${team}-green-home`, replaced: true, healthyAfterMs: 900 }),
    answer(trafficSwitch, {
      status: 'promoted',
      from: 'blue',
      to: 'green',
      steps: [5, 10, 25, 50, 100].map((percent) => ({ percent, weights: { blue: 100 - percent, green: percent }, windowSec: 3, verdict: 'pass' as const, figures, samples: 3 })),
      drained: { sessionsAtMaint: 0, waitedMs: 5 },
    }),
    answer(environmentStatus, {
      active: 'green',
      previous: 'blue',
      weights: { blue: 0, green: 100 },
      operation: null,
      lastKnownGood: 'green',
      buildSwitch: { from: 'blue', to: 'green', status: 'succeeded', operationId: 'op-1' },
      switch: null,
    }),
    answer(stateMigrate, {
      jobs: 12,
      jobNames: ['Infrastructure', 'Infrastructure/Self-Managed-Blue-Green-Switch'],
      files: 20,
      bytes: 4096,
      waitedSec: 3,
      copied: true,
      sourceQuietingDown: true,
      operation: 'switch',
      imageOwned: false,
      leftToImage: [],
      includeBuilds: true,
      precopy: migrated,
      delta: { ...migrated, removed: 0 },
      windowSec: 4,
      reloaded: true,
      restart: { restarted: false, reason: null, secrets: [], sec: 0 },
    }),
    answer(environmentQuietDown, { environment: 'blue', container: `jenkins-${team}-blue`, running: true, quietingDown: false, changed: true }),
    answer(environmentValidate, { passed: true, environment: 'green', source: 'blue', checks: VALIDATION_CHECK_NAMES.map((name) => ({ name, passed: true, figure: 'ok', reason: 'ok' })) }),
    answer(coordinationUpdate, { recorded: true, auditId: 'a-1' }),
    answer(rollbackEmergency, { operationId: 'op-2', active: 'blue', weights: { blue: 100, green: 0 }, halted: null, elapsedMs: 40, recordsDeferred: false }),
    answer(breakerStatus, { breakers: [{ name: `infrastructure_modification:${team}`, state: 'closed', failures: 0, openedAt: null, retryAt: null }] }),
    answer(backupCreate, { ...backup, team, archiveSha256: 'a'.repeat(64), expired: [] }),
    answer(backupList, { backups: [{ ...backup, team }] }),
    answer(coordinationExecute, { operation: 'plugin_update', status: 'succeeded', outcomes: [{ team, status: 'succeeded', from: 'blue', to: 'green', switched: true }] }),
  ]);
}

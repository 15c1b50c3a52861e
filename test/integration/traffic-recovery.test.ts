import { randomBytes } from 'node:crypto';
import { trafficSwitchParams } from '../../catalog/methods/traffic';
import type { EnvironmentName, Team } from '../../catalog/teams-file';
import { createPgStore, type PgStore } from '../../agent/src/store';
import type { Actor, OperationContext, OperationJournal } from '../../agent/src/store/contract';
import { adoptOrphanedTrafficOperations, recoverTrafficOperations } from '../../agent/src/traffic/recovery';
import { sleep as realSleep } from '../../agent/src/sleep';
import { runTrafficSwitch, trafficDeps } from '../../agent/src/traffic/switch';
import type { HaproxyDriver } from '../../agent/src/haproxy/runtime-api';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freeTeamPorts, startBackend, type Backend } from '../support/backends';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { testTeam } from '../support/haproxy-teams';

jest.setTimeout(60_000);

/**
 * Recovery after a crash at each phase of a switch, in-process: the switch body
 * runs against one store and freezes at the chosen point (as a SIGKILLed
 * process would stop: journal rows stay as they were, nothing more happens);
 * then a fresh store with the same instance id runs startup recovery. Real
 * haproxy, real backends, real Postgres.
 */
let db: TestDatabase;
let hap: HaproxyProcess;
let team: Team;
let blue: Backend;
let green: Backend;
let recoveryStore: PgStore;
const instanceId = `crash-${randomBytes(3).toString('hex')}`;
const actor: Actor = { tokenId: 'ops', build: 'devops/Infrastructure/Self-Managed-Blue-Green-Switch#9', instanceId };
const never = (): Promise<never> => new Promise<never>(() => undefined);

beforeAll(async () => {
  db = await createTestDatabase('trafficrec');
  const ports = await freeTeamPorts();
  team = testTeam({ prefix: 'tr', ...ports });
  blue = await startBackend(team.environments.blue.web_port, 'blue');
  green = await startBackend(team.environments.green.web_port, 'green');
  hap = await startHaproxy([team]);
  recoveryStore = await createPgStore({ connectionString: db.url, instanceId });
});

afterAll(async () => {
  await hap?.stop();
  await blue?.close();
  await green?.close();
  await recoveryStore?.close();
  await db?.drop();
});

type Freeze =
  | { kind: 'after-begin' }
  | { kind: 'after-intent'; name: string; step?: number }
  | { kind: 'in-window'; phase: string }
  | { kind: 'before-finish' };

/** Runs a switch that "dies" at `freeze`; returns the operation id and the target. */
async function crashedSwitch(freeze: Freeze, owner = instanceId): Promise<{ opId: string; target: EnvironmentName; lockTtlEndsAt: Date }> {
  const store = await createPgStore({ connectionString: db.url, instanceId: owner });
  const actor: Actor = { tokenId: 'ops', build: 'devops/Infrastructure/Self-Managed-Blue-Green-Switch#9', instanceId: owner };
  const state = await store.environments.ensure(team.team_name, 'blue');
  const target: EnvironmentName = state.active === 'blue' ? 'green' : 'blue';
  const grant = await store.locks.acquire({ team: team.team_name, operation: 'blue_green_switch', ttlSec: 2, waitSec: 5, owner: `build-${target}`, actor });
  const params = trafficSwitchParams.parse({ team: team.team_name, target, validationSec: 1, sampleIntervalMs: 200, minSamples: 0, lockToken: grant.token, drainTimeoutSec: 1 });
  const { operation } = await store.journal.begin({ type: 'traffic.switch', team: team.team_name, params, actor });
  if (freeze.kind !== 'after-begin') {
    let phase = '';
    let reached!: () => void;
    const frozen = new Promise<void>((r) => (reached = r));
    const journal: OperationJournal = Object.create(store.journal);
    journal.intent = async (opId, name, intent) => {
      const seq = await store.journal.intent(opId, name, intent);
      if (freeze.kind === 'after-intent' && name === freeze.name && (freeze.step === undefined || intent.step === freeze.step)) {
        reached();
        return never();
      }
      return seq;
    };
    const sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
      if (freeze.kind === 'in-window' && phase === freeze.phase) {
        reached();
        return never();
      }
      return realSleep(ms, signal);
    };
    const deps = trafficDeps({ store: { ...store, journal }, haproxy: hap.runtime as HaproxyDriver, teamConfig: () => team, sleep });
    const ctx: OperationContext = {
      operation,
      actor,
      signal: new AbortController().signal,
      clock: { now: () => new Date() },
      progress: (e) => {
        phase = e.phase;
      },
    };
    const body = runTrafficSwitch(deps, params, ctx);
    if (freeze.kind === 'before-finish') {
      await body; // the body returned; the runner died before journal.finish
    } else {
      await Promise.race([frozen, body.then(() => Promise.reject(new Error('the switch finished before the freeze point')))]);
    }
  }
  await store.close();
  return { opId: operation.id, target, lockTtlEndsAt: grant.expiresAt };
}

async function liveWeights(): Promise<{ blue: number; green: number }> {
  const stats = (await hap.runtime.showStat()).filter((s) => s.backend === team.haproxy_backend);
  return { blue: stats.find((s) => s.server === team.environments.blue.server)!.weight, green: stats.find((s) => s.server === team.environments.green.server)!.weight };
}

async function expectConsistent(opId: string, action: string, active: EnvironmentName): Promise<void> {
  const actions = await recoverTrafficOperations(trafficDeps({ store: recoveryStore, haproxy: hap.runtime, teamConfig: () => team }), instanceId, { now: () => new Date() });
  expect(actions).toEqual([expect.objectContaining({ operationId: opId, action, active })]);
  // Traffic all on one side, the side environment_state says is active.
  const state = await recoveryStore.environments.get(team.team_name);
  const live = await liveWeights();
  expect(state?.active).toBe(active);
  expect(live).toEqual(active === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 });
  expect(state?.weights).toEqual(live);
  const op = await recoveryStore.journal.get(opId);
  expect(op?.status).toBe(action === 'rolled-back' ? 'rolled_back' : 'succeeded');
  const audit = await recoveryStore.audit.list({ team: team.team_name, operationType: 'traffic.switch', limit: 1 });
  expect(audit[0]).toMatchObject({ metadata: expect.objectContaining({ recovered: true, lock: expect.stringContaining('expires at its TTL') }) });
  expect(await recoveryStore.journal.unfinished(instanceId)).toEqual([]);
  process.stdout.write(`recovery ${action}: ${audit[0].rollbackReason}\n`);
}

async function expectLockFreeAfterTtl(lockTtlEndsAt: Date): Promise<void> {
  // Nobody released it (the caller died with the sidecar); it must be free once its TTL passed.
  const wait = Math.max(0, lockTtlEndsAt.getTime() - Date.now()) + 3000;
  const g = await recoveryStore.locks.acquire({ team: team.team_name, operation: 'blue_green_switch', ttlSec: 1, waitSec: Math.ceil(wait / 1000), owner: 'next-build', actor });
  expect(g.holder).toBe('next-build');
  await recoveryStore.locks.release({ team: team.team_name, operation: 'blue_green_switch', token: g.token, owner: 'next-build', actor });
}

it('crash right after the operation began: recovery ends it rolled back, traffic untouched on blue', async () => {
  const { opId, lockTtlEndsAt } = await crashedSwitch({ kind: 'after-begin' });
  await expectConsistent(opId, 'rolled-back', 'blue');
  await expectLockFreeAfterTtl(lockTtlEndsAt);
});

it('crash between journaling the 25% weights and applying them: back on blue', async () => {
  const { opId } = await crashedSwitch({ kind: 'after-intent', name: 'weights', step: 25 });
  await expectConsistent(opId, 'rolled-back', 'blue');
});

it('crash in the middle of the 50% validation window (traffic split in HAProxy): back on blue', async () => {
  const { opId } = await crashedSwitch({ kind: 'in-window', phase: 'step-50' });
  expect(await liveWeights()).toEqual({ blue: 50, green: 50 });
  await expectConsistent(opId, 'rolled-back', 'blue');
});

it('crash after 100% validated and the old side drained, before the promotion: recovery completes it', async () => {
  const { opId, target } = await crashedSwitch({ kind: 'after-intent', name: 'promote' });
  expect(target).toBe('green');
  await expectConsistent(opId, 'completed-promotion', 'green');
  const blueStat = (await hap.runtime.showStat()).find((s) => s.backend === team.haproxy_backend && s.server === team.environments.blue.server);
  expect(blueStat?.status).toBe('MAINT');
});

it('crash after the promotion, before the journal was finished: recovery finishes it (the reverse switch starts from maint)', async () => {
  const { opId, target } = await crashedSwitch({ kind: 'before-finish' });
  expect(target).toBe('blue');
  await expectConsistent(opId, 'finished-promoted', 'blue');
});

it('a sidecar that never comes back: a live one adopts its switch and brings traffic back to the last known good side', async () => {
  const dead = `dead-${randomBytes(3).toString('hex')}`;
  const { opId } = await crashedSwitch({ kind: 'in-window', phase: 'step-25' }, dead);
  expect(await liveWeights()).toEqual({ blue: 75, green: 25 });
  const deps = trafficDeps({ store: recoveryStore, haproxy: hap.runtime, teamConfig: () => team });
  const actions = await adoptOrphanedTrafficOperations(deps, instanceId, { now: () => new Date() }, 30);
  expect(actions).toEqual([expect.objectContaining({ operationId: opId, action: 'rolled-back', active: 'blue' })]);
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
  const op = await recoveryStore.journal.get(opId);
  expect(op).toMatchObject({ status: 'rolled_back', ownerInstance: instanceId });
  // A second sweep finds nothing left to do.
  expect(await adoptOrphanedTrafficOperations(deps, instanceId, { now: () => new Date() }, 30)).toEqual([]);
});

it('crash after 100% validated, with the drain of the old side journaled but not yet set in HAProxy: recovery completes it', async () => {
  const { opId, target } = await crashedSwitch({ kind: 'after-intent', name: 'drain-old' });
  expect(target).toBe('green');
  const blueStat = async (): Promise<string | undefined> => (await hap.runtime.showStat()).find((s) => s.backend === team.haproxy_backend && s.server === team.environments.blue.server)?.status;
  expect(await blueStat()).toBe('UP'); // the old side was never drained
  await expectConsistent(opId, 'completed-promotion', 'green');
  expect(await blueStat()).toBe('MAINT');
});

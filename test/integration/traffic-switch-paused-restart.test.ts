import type { EnvironmentName, Team } from '../../catalog/teams-file';
import { createPgStore, type PgStore } from '../../agent/src/store';
import type { JournalStep } from '../../agent/src/store/contract';
import { startLoad } from '../support/haproxy-load';
import { RpcClient, type RpcMessage } from '../support/sidecar-process-rpc';
import { operationEnded, startTrafficStack, type TrafficStack } from '../support/traffic-stack';

jest.setTimeout(110_000);

/**
 * A switch paused through traffic.pause survives kill -9 of the real jenkins-sidecar process:
 * the restarted sidecar (same instance id: its recovery reads its own journal) resumes it still
 * paused, with the pause's by and since as journaled, HAProxy's and the desired weights untouched
 * for longer than a window; traffic.resume then reaches it and it promotes under the same
 * operation, which operation.attach follows. A pause whose maxPauseSec ran out while the sidecar
 * was down rolls back at the restart, saying so.
 */
let stack: TrafficStack;
let store: PgStore;
let team: Team;

beforeAll(async () => {
  stack = await startTrafficStack({ prefix: 'pr', sidecars: 0 });
  team = stack.team;
  store = await createPgStore({ connectionString: stack.databaseUrl, instanceId: 'observer' });
  stack.defer(() => store.close());
});

afterAll(async () => {
  await stack?.stop();
});

const VALIDATION_SEC = 2;
const phaseOf = (n: RpcMessage): string | undefined => (n.params as { phase?: string } | undefined)?.phase;

/** Bounded wait for the switch's `phase` progress; its operation id. */
async function reached(client: RpcClient, phase: string): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const n = client.notifications.find((m) => phaseOf(m) === phase);
    if (n) return String(n.params?.operationId);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${phase} progress within 20 s: ${JSON.stringify(client.notifications.slice(-3))}`);
}

const desired = async (): Promise<{ blue: number; green: number }> => (await store.environments.get(team.team_name))!.weights;

/** A switch to the other side started without waiting for its answer (the process dies), paused at 25%; what the pause answered. */
async function switchPausedAt25(client: RpcClient, pauseParams: Record<string, unknown>): Promise<{ opId: string; target: EnvironmentName; token: number; pause: Record<string, unknown> }> {
  const state = await store.environments.ensure(team.team_name, 'blue');
  const target: EnvironmentName = state.active === 'blue' ? 'green' : 'blue';
  // A short lease: it runs out while the sidecar is down, and the resumed run keeps its token (nobody else holds the lock).
  const lock = await client.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 5, waitSec: 10 });
  expect(lock.error).toBeUndefined();
  const token = (lock.result as { token: number }).token;
  // No traffic yet: each window is short of minSamples and extends (up to maxWindowSec), so the pause surely lands inside the 25% window.
  const params = { team: team.team_name, target, increments: [25, 100], validationSec: VALIDATION_SEC, maxWindowSec: 90, sampleIntervalMs: 200, minSamples: 5, lockToken: token, drainTimeoutSec: 1 };
  client.ws.send(JSON.stringify({ jsonrpc: '2.0', id: client.takeId(), method: 'traffic.switch', params }));
  const opId = await reached(client, 'step-25');
  const paused = await client.call('traffic.pause', { team: team.team_name, reason: 'checking the dashboards', operationId: opId, ...pauseParams });
  expect(paused.error).toBeUndefined();
  expect(paused.result).toMatchObject({ operationId: opId, state: 'paused', percent: 25 });
  return { opId, target, token, pause: paused.result as Record<string, unknown> };
}

const controlSteps = (steps: JournalStep[]): JournalStep[] => steps.filter((s) => s.name === 'control');

it('kill -9 while paused at 25%: the restart resumes it still paused, weights unchanged past a window; traffic.resume promotes it', async () => {
  const sc = await stack.startSidecar();
  const client = await RpcClient.connect(sc.rpcUrl, stack.secret);
  const { opId, target, pause } = await switchPausedAt25(client, {});
  const at25 = await stack.weights();
  expect(at25[target]).toBe(25);
  expect(await desired()).toEqual(at25);
  const before = await store.journal.get(opId);
  await sc.kill();
  client.ws.terminate();
  expect(before?.status).toBe('running');
  const pausedStep = controlSteps(before!.steps).at(-1)!;
  expect(pausedStep.intent).toMatchObject({ verb: 'pause', by: 'ops', reason: 'checking the dashboards' });

  const restarted = await stack.startSidecar(); // recovery runs before it listens
  const c2 = await RpcClient.connect(restarted.rpcUrl, stack.secret);
  try {
    const op = (await c2.call('operation.get', { operationId: opId })).result as { status: string; phase: string; steps: JournalStep[] };
    expect(op.status).toBe('running');
    expect(op.phase).toBe('paused');
    // The pause is the one journaled before the kill: nobody paused it again.
    expect(controlSteps(op.steps).map((s) => s.intent)).toEqual([pausedStep.intent]);
    // The restarted sidecar's control holds it paused with the same by and since (a second pause is refused naming them).
    const again = await c2.call('traffic.pause', { team: team.team_name, reason: 'again' });
    expect(again.error?.data).toMatchObject({ code: 'CONFLICT', reason: 'control_refused' });
    expect(again.error?.message).toContain(`paused (by ops since ${String((pause.pause as { since: string }).since)})`);
    const audit = await store.audit.list({ team: team.team_name, operationType: 'recovery', limit: 5 });
    expect(audit.find((a) => a.operationId === opId)).toMatchObject({ status: 'resumed_paused' });

    // Longer than two windows: neither HAProxy's weights nor the desired ones move while it is held.
    const heldUntil = Date.now() + 2.5 * VALIDATION_SEC * 1000;
    let looks = 0;
    for (; looks < 100 && Date.now() < heldUntil; looks++) {
      expect(await stack.weights()).toEqual(at25);
      expect(await desired()).toEqual(at25);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(looks).toBeGreaterThan(4);
    expect((await store.journal.get(opId))?.status).toBe('running');

    // Traffic for the windows to judge (bounded), then operation.attach follows the resumed run in this process and traffic.resume reaches it.
    const load = startLoad(stack.haproxy.httpPort, { connections: 2, maxSeconds: 60, rate: 40, path: `/${team.team_name}/job/load` });
    const watcher = await stack.connect(restarted);
    const followed = watcher.call('operation.attach', { operationId: opId }, 60_000);
    const resumed = await c2.call('traffic.resume', { team: team.team_name, reason: 'dashboards look fine', operationId: opId });
    expect(resumed.error).toBeUndefined();
    // (Its percent is wherever the run got to by the answer: with traffic the 25% window may already have passed.)
    expect(resumed.result).toMatchObject({ operationId: opId, command: 'resume', state: 'running' });
    const end = await followed;
    const served = await load.stop();
    expect(served.requests).toBeGreaterThan(0);
    expect(end.error).toBeUndefined();
    expect(end.result).toMatchObject({ status: 'promoted', to: target });
    expect(await operationEnded(c2, opId)).toMatchObject({ status: 'succeeded' });
    expect(await stack.weights()).toEqual({ ...{ blue: 0, green: 0 }, [target]: 100 });
    expect(await store.environments.get(team.team_name)).toMatchObject({ active: target, weights: { ...{ blue: 0, green: 0 }, [target]: 100 } });
  } finally {
    await c2.close();
    await restarted.stop(5000);
  }
});

it('a breach while the resumed switch is held rolls it back: its SLIs are still judged after the restart', async () => {
  const sc = await stack.startSidecar();
  const client = await RpcClient.connect(sc.rpcUrl, stack.secret);
  const { opId, target } = await switchPausedAt25(client, {});
  await sc.kill();
  client.ws.terminate();
  const restarted = await stack.startSidecar();
  const side = target === 'blue' ? stack.blue : stack.green;
  const source: EnvironmentName = target === 'blue' ? 'green' : 'blue';
  const load = startLoad(stack.haproxy.httpPort, { connections: 2, maxSeconds: 40, rate: 40, path: `/${team.team_name}/job/load` });
  try {
    expect((await store.journal.get(opId))?.status).toBe('running');
    // The target starts failing while nobody has resumed the switch.
    side.set({ errorRate: 1 });
    const op = (await operationEnded(await stack.connect(restarted), opId, 30_000)) as { status: string; error?: { code: string; data?: Record<string, unknown> } };
    expect(op.status).toBe('rolled_back');
    expect(op.error).toMatchObject({ code: 'SLI_BREACH', data: { step: 25 } });
    expect(await stack.weights()).toEqual({ ...{ blue: 0, green: 0 }, [source]: 100 });
    expect(await desired()).toEqual({ ...{ blue: 0, green: 0 }, [source]: 100 });
  } finally {
    side.set({ errorRate: 0 });
    await load.stop();
    await restarted.stop(5000);
  }
});

it('kill -9 while paused with a short maxPauseSec, restart after it ran out: rolled back, saying why', async () => {
  const sc = await stack.startSidecar();
  const client = await RpcClient.connect(sc.rpcUrl, stack.secret);
  const { opId, target } = await switchPausedAt25(client, { maxPauseSec: 4 });
  await sc.kill();
  client.ws.terminate();
  const dead = await store.journal.get(opId);
  expect(dead?.status).toBe('running');
  const pausedAt = new Date(String(controlSteps(dead!.steps).at(-1)!.intent.at)).getTime();
  // Down until the pause has run out.
  await new Promise((r) => setTimeout(r, Math.max(0, pausedAt + 4_500 - Date.now())));

  const restarted = await stack.startSidecar();
  try {
    const op = await store.journal.get(opId);
    expect(op?.status).toBe('rolled_back');
    expect(op?.error).toMatchObject({ code: 'TIMEOUT', data: { reason: 'pause_expired', maxPauseSec: 4, pausedBy: 'ops' } });
    expect(op?.error?.message).toContain('maxPauseSec of 4s ran out');
    const source: EnvironmentName = target === 'blue' ? 'green' : 'blue';
    expect(await stack.weights()).toEqual({ ...{ blue: 0, green: 0 }, [source]: 100 });
    expect(await desired()).toEqual({ ...{ blue: 0, green: 0 }, [source]: 100 });
    const audit = await store.audit.list({ team: team.team_name, operationType: 'traffic.switch', limit: 5 });
    expect(audit.find((a) => a.operationId === opId && a.status === 'rolled_back')?.rollbackReason).toContain('while the sidecar was down');
  } finally {
    await restarted.stop(5000);
  }
});

it('a graceful stop (SIGTERM, as systemctl restart sends) while paused leaves it paused: the next start resumes it held', async () => {
  // A short grace: the caller still follows the switch, and its call stays unanswered until the sockets close.
  const sc = await stack.startSidecar({ env: { SIDECAR_SHUTDOWN_GRACE_SEC: '2' } });
  const client = await RpcClient.connect(sc.rpcUrl, stack.secret);
  const { opId, target, pause } = await switchPausedAt25(client, {});
  const at25 = await stack.weights();
  expect(at25[target]).toBe(25);
  expect(await sc.stop(30_000)).toBe(0);
  // The caller got no answer (not a false end): its connection closed, so a caller with an idempotencyKey re-attaches.
  for (let i = 0; i < 100 && !client.closed; i++) await new Promise((r) => setTimeout(r, 50));
  expect(client.closed).not.toBeNull();
  expect(client.unmatched.filter((m) => m.id !== null && m.id !== undefined)).toEqual([]);
  // The stop neither rolled it back nor ended its row: it is left for this instance's next start.
  const left = await store.journal.get(opId);
  expect(left?.status).toBe('running');
  expect(await stack.weights()).toEqual(at25);
  expect(await desired()).toEqual(at25);

  const restarted = await stack.startSidecar();
  const c2 = await RpcClient.connect(restarted.rpcUrl, stack.secret);
  try {
    const op = (await c2.call('operation.get', { operationId: opId })).result as { status: string; phase: string };
    expect(op).toMatchObject({ status: 'running', phase: 'paused' });
    const again = await c2.call('traffic.pause', { team: team.team_name, reason: 'again' });
    expect(again.error?.message).toContain(`paused (by ops since ${String((pause.pause as { since: string }).since)})`);
    // Ended by a person, weights left where they are.
    const aborted = await c2.call('traffic.abort', { team: team.team_name, reason: 'keep 25% for now', hold: true, operationId: opId });
    expect(aborted.error).toBeUndefined();
    expect(await operationEnded(c2, opId)).toMatchObject({ status: 'aborted' });
    expect(await stack.weights()).toEqual(at25);
  } finally {
    await c2.close();
    await restarted.stop(5000);
  }
});

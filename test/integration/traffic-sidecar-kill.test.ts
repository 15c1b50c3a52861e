import { execFile } from 'node:child_process';
import { request } from 'node:http';
import type { EnvironmentName, Team } from '../../catalog/teams-file';
import { createPgStore, type PgStore } from '../../agent/src/store';
import type { Backend } from '../support/backends';
import { eventually } from '../support/eventually';
import { RpcClient } from '../support/sidecar-process-rpc';
import { SIDECARCTL_BIN, type SidecarProcess } from '../support/sidecar-process';
import { startTrafficStack, type TrafficStack } from '../support/traffic-stack';

jest.setTimeout(60_000);

/**
 * kill -9 of the real jenkins-sidecar process at several phases of a switch,
 * then a restart with the same instance id: traffic ends all on one side,
 * consistent with environment_state; the operation is not left running; the
 * caller's lock is free once its TTL passed; the audit says what happened.
 * Each switch has one client request held open on the old side through
 * HAProxy, so its drain waits for that session (up to drainTimeoutSec) and a
 * kill at `drain` lands while the switch is still draining; without it the
 * drain ends at its first look and the switch may finish before the kill.
 */
let stack: TrafficStack;
let store: PgStore;
let team: Team;

beforeAll(async () => {
  // No sidecar yet: each case starts its own, always with the stack's one instance id (a restart recovers its switch).
  stack = await startTrafficStack({ prefix: 'tk', sidecars: 0 });
  team = stack.team;
  store = await createPgStore({ connectionString: stack.databaseUrl, instanceId: 'observer' });
  stack.defer(() => store.close());
});

afterAll(async () => {
  await stack?.stop();
});

const startSidecar = (): Promise<SidecarProcess> => stack.startSidecar();
const liveWeights = (): Promise<{ blue: number; green: number }> => stack.weights();
const backendOf = (env: EnvironmentName): Backend => (env === 'blue' ? stack.blue : stack.green);
/** Longer than any wait below: the drain always has the held session to wait for when the kill lands. */
const DRAIN_TIMEOUT_SEC = 45;
const phaseOf = (n: { params?: Record<string, unknown> }): string | undefined => (n.params as { phase?: string } | undefined)?.phase;

interface HeldAnswer {
  status: number;
  backend: string;
}

/**
 * One GET through HAProxy that `side` (holding all the traffic now) keeps
 * open until side.release(): a session HAProxy counts on that server (scur:
 * haproxy/haproxy src/backend.c connect_server() counts it in srv->cur_sess
 * until the stream ends), so a drain of it has to wait. `set server state
 * maint` leaves it running (src/server.c _srv_update_status_adm() shuts a
 * server's streams only with `on-marked-down shutdown-sessions`, which our
 * haproxy.cfg does not set). Resolves once the backend holds it.
 */
async function holdSessionOn(side: Backend): Promise<{ answer: Promise<HeldAnswer> }> {
  side.set({ hold: true });
  const answer = new Promise<HeldAnswer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: stack.haproxy.httpPort, path: `/${team.team_name}/cli`, agent: false, timeout: 55_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, backend: String(res.headers['x-backend'] ?? '') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('the held request got no answer within 55 s')));
    req.on('error', reject);
    req.end();
  });
  answer.catch(() => undefined); // awaited by the case; a failure shows there
  await eventually(`${side.name} holds the request`, async () => (side.held() === 1 ? true : null), 15_000);
  // Wrapped: an async function returning the promise itself would wait for the answer.
  return { answer };
}

/** Waits (bounded) for the switch's `phase` notification; returns its operation id. */
async function reached(client: RpcClient, phase: string): Promise<string> {
  const deadline = Date.now() + 40_000;
  for (;;) {
    const n = client.notifications.find((m) => phaseOf(m) === phase);
    if (n) return String(n.params?.operationId);
    if (Date.now() >= deadline) throw new Error(`no ${phase} progress within 40 s: ${JSON.stringify(client.notifications.slice(-3))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function expectConsistent(): Promise<{ blue: number; green: number }> {
  const live = await liveWeights();
  const after = await store.environments.get(team.team_name);
  expect([100, 0]).toContain(live.blue);
  expect(live.blue + live.green).toBe(100);
  expect(after?.weights).toEqual(live);
  expect(live[after!.active]).toBe(100);
  return live;
}

it.each(['step-5', 'step-50', 'drain'])('kill -9 at %s, restart: traffic on one side, consistent with environment_state', async (killPhase) => {
  const sc = await startSidecar();
  const client = await RpcClient.connect(sc.rpcUrl, sc.secrets.ops);
  const state = await store.environments.ensure(team.team_name, 'blue');
  const target: EnvironmentName = state.active === 'blue' ? 'green' : 'blue';
  const source = state.active;
  expect(await liveWeights()).toEqual({ ...{ blue: 0, green: 0 }, [source]: 100 });
  const { answer: held } = await holdSessionOn(backendOf(source));
  const lock = await client.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 3, waitSec: 10 });
  expect(lock.error).toBeUndefined();
  const token = (lock.result as { token: number }).token;
  // Sent without waiting: its answer never comes (the process dies); progress arrives as notifications.
  const params = { team: team.team_name, target, validationSec: 1, sampleIntervalMs: 200, minSamples: 0, lockToken: token, drainTimeoutSec: DRAIN_TIMEOUT_SEC };
  client.ws.send(JSON.stringify({ jsonrpc: '2.0', id: client.takeId(), method: 'traffic.switch', params }));
  const opId = await reached(client, killPhase);
  await sc.kill();
  client.ws.terminate();
  const atKill = await liveWeights();
  // The kill landed before the switch ended: there is something to recover (at drain: still waiting for the held session).
  const dead = await store.journal.get(opId);
  expect(dead?.status).toBe('running');
  if (killPhase === 'drain') expect(dead?.steps.at(-1)).toMatchObject({ name: 'drain-old', outcome: 'pending' });

  const restarted = await startSidecar(); // recovery runs before it listens
  const live = await expectConsistent();
  const after = await store.environments.get(team.team_name);
  process.stdout.write(`killed at ${killPhase}: HAProxy ${JSON.stringify(atKill)} at the kill, ${JSON.stringify(live)} after restart; active ${after?.active}\n`);
  const ops = await store.journal.list({ team: team.team_name, limit: 5 });
  const sw = ops.find((o) => o.type === 'traffic.switch');
  expect(sw?.id).toBe(opId);
  expect(sw?.status).not.toBe('running');
  const audit = await store.audit.list({ team: team.team_name, operationType: 'traffic.switch', limit: 1 });
  expect(audit[0]).toMatchObject({ operationId: opId, metadata: expect.objectContaining({ recovered: true }) });
  // Neither the kill nor the recovery (maint at drain) cut the client session on the old side.
  backendOf(source).release();
  expect(await held).toEqual({ status: 200, backend: source });
  // The dead build's lock is free once its TTL passed.
  const c2 = await RpcClient.connect(restarted.rpcUrl, restarted.secrets.ops);
  const next = await c2.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 5, waitSec: 10, owner: 'next-build' }, 20_000);
  expect(next.result).toMatchObject({ holder: 'next-build' });
  await c2.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', owner: 'next-build' });
  await c2.close();
  await restarted.stop(5000);
  // A drained-and-maint old side must be usable by the next switch: let its checks settle.
  await new Promise((r) => setTimeout(r, 300));
});

it('kill -9 right after the switch ended: the drain waited for the held session, the restart finds nothing to recover', async () => {
  const sc = await startSidecar();
  const client = await RpcClient.connect(sc.rpcUrl, sc.secrets.ops);
  const state = await store.environments.ensure(team.team_name, 'blue');
  const target: EnvironmentName = state.active === 'blue' ? 'green' : 'blue';
  const source = state.active;
  const { answer: held } = await holdSessionOn(backendOf(source));
  const lock = await client.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 60, waitSec: 10 });
  const token = (lock.result as { token: number }).token;
  const answer = client.call('traffic.switch', { team: team.team_name, target, validationSec: 1, sampleIntervalMs: 200, minSamples: 0, lockToken: token, drainTimeoutSec: DRAIN_TIMEOUT_SEC }, 58_000);
  const opId = await reached(client, 'drain');
  // Still draining: the old side keeps its session, so nothing is in maint or promoted yet.
  const draining = await store.journal.get(opId);
  expect(draining?.status).toBe('running');
  expect(draining?.steps.at(-1)).toMatchObject({ name: 'drain-old', outcome: 'pending' });
  backendOf(source).release();
  expect(await held).toEqual({ status: 200, backend: source });
  const final = await answer;
  expect(final.error).toBeUndefined();
  // Ended by the session ending (the timeout would leave it counted).
  expect(final.result).toMatchObject({ status: 'promoted', to: target, drained: { sessionsAtMaint: 0 } });
  await sc.kill();
  client.ws.terminate();

  const restarted = await startSidecar();
  const live = await expectConsistent();
  expect(live[target]).toBe(100);
  expect((await store.environments.get(team.team_name))?.active).toBe(target);
  expect((await store.journal.get(opId))?.status).toBe('succeeded');
  // The switch's own row and the call's (the dispatcher's, written before the answer, with the
  // call's params and the operation it ran); no recovery row.
  const audit = await store.audit.list({ team: team.team_name, operationType: 'traffic.switch', limit: 10 });
  const ofCall = (a: (typeof audit)[number]): boolean => (a.metadata as { params?: { lockToken?: number } }).params?.lockToken === token;
  expect(audit.filter((a) => a.operationId === opId).map((a) => a.status).sort()).toEqual(['SUCCESS', 'promoted']);
  expect(audit.filter(ofCall).map((a) => [a.status, a.operationId])).toEqual([['SUCCESS', opId]]);
  expect(audit.filter((a) => (a.metadata as { recovered?: boolean }).recovered && a.operationId === opId)).toEqual([]);
  const c2 = await RpcClient.connect(restarted.rpcUrl, restarted.secrets.ops);
  await c2.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token });
  await c2.close();
  await restarted.stop(5000);
});

it('sidecarctl emergency-stop halts a running switch and restores the last known good side within a second', async () => {
  const sc = await startSidecar();
  const client = await RpcClient.connect(sc.rpcUrl, sc.secrets.ops);
  const state = await store.environments.ensure(team.team_name, 'blue');
  const good = state.lastKnownGood;
  const target: EnvironmentName = state.active === 'blue' ? 'green' : 'blue';
  const lock = await client.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 30, waitSec: 10 });
  const token = (lock.result as { token: number }).token;
  const answer = client.call('traffic.switch', { team: team.team_name, target, validationSec: 3, sampleIntervalMs: 200, minSamples: 0, lockToken: token }, 30_000);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !client.notifications.some((n) => (n.params as { phase?: string })?.phase === 'step-10')) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const before = await liveWeights();
  const started = Date.now();
  const ctl = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [SIDECARCTL_BIN, 'emergency-stop', '--team', team.team_name, '--reason', 'operator pressed stop'], { env: { ...process.env, SIDECAR_URL: sc.rpcUrl, SIDECAR_TOKEN: sc.secrets.ops }, timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  const elapsed = Date.now() - started;
  expect(ctl.code).toBe(0);
  const result = JSON.parse(ctl.stdout) as { active: string; elapsedMs: number; halted: string | null };
  process.stdout.write(`emergency-stop: ${JSON.stringify(before)} before, applied after ${result.elapsedMs} ms in the sidecar (CLI round trip ${elapsed} ms)\n`);
  expect(result.active).toBe(good);
  expect(result.halted).not.toBeNull();
  expect(result.elapsedMs).toBeLessThan(1000);
  expect(await liveWeights()).toEqual(good === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 });
  const final = await answer;
  expect(final.error?.data).toMatchObject({ code: 'CONFLICT', reason: 'halted', operationStatus: 'aborted' });
  const op = await store.journal.get(result.halted!);
  expect(op?.status).toBe('aborted');
  // The transport audits the call too; the operation's own entry carries the reason.
  const audit = await store.audit.list({ team: team.team_name, operationType: 'rollback.emergency', limit: 5 });
  expect(audit.some((a) => a.rollbackReason === 'operator pressed stop')).toBe(true);
  await client.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token });
  await client.close();
  await sc.stop(5000);
});

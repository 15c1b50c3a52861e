import { execFile } from 'node:child_process';
import type { EnvironmentName, Team } from '../../catalog/teams-file';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { RpcClient } from '../support/sidecar-process-rpc';
import { SIDECARCTL_BIN, type SidecarProcess } from '../support/sidecar-process';
import { startTrafficStack, type TrafficStack } from '../support/traffic-stack';

jest.setTimeout(60_000);

/**
 * kill -9 of the real jenkins-sidecar process at several phases of a switch,
 * then a restart with the same instance id: traffic ends all on one side,
 * consistent with environment_state; the operation is not left running; the
 * caller's lock is free once its TTL passed; the audit says what happened.
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

it.each(['step-5', 'step-50', 'drain'])('kill -9 at %s, restart: traffic on one side, consistent with environment_state', async (killPhase) => {
  const sc = await startSidecar();
  const client = await RpcClient.connect(sc.rpcUrl, sc.secrets.ops);
  const state = await store.environments.ensure(team.team_name, 'blue');
  const target: EnvironmentName = state.active === 'blue' ? 'green' : 'blue';
  const lock = await client.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 3, waitSec: 10 });
  expect(lock.error).toBeUndefined();
  const token = (lock.result as { token: number }).token;
  // Sent without waiting: its answer never comes (the process dies); progress arrives as notifications.
  const params = { team: team.team_name, target, validationSec: 1, sampleIntervalMs: 200, minSamples: 0, lockToken: token, drainTimeoutSec: 1 };
  client.ws.send(JSON.stringify({ jsonrpc: '2.0', id: client.takeId(), method: 'traffic.switch', params }));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !client.notifications.some((n) => (n.params as { phase?: string })?.phase === killPhase)) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(client.notifications.some((n) => (n.params as { phase?: string })?.phase === killPhase)).toBe(true);
  await sc.kill();
  client.ws.terminate();
  const atKill = await liveWeights();

  const restarted = await startSidecar(); // recovery runs before it listens
  const live = await liveWeights();
  const after = await store.environments.get(team.team_name);
  process.stdout.write(`killed at ${killPhase}: HAProxy ${JSON.stringify(atKill)} at the kill, ${JSON.stringify(live)} after restart; active ${after?.active}\n`);
  expect([100, 0]).toContain(live.blue);
  expect(live.blue + live.green).toBe(100);
  expect(after?.weights).toEqual(live);
  expect(live[after!.active]).toBe(100);
  const ops = await store.journal.list({ team: team.team_name, limit: 5 });
  const sw = ops.find((o) => o.type === 'traffic.switch');
  expect(sw?.status).not.toBe('running');
  const audit = await store.audit.list({ team: team.team_name, operationType: 'traffic.switch', limit: 1 });
  expect(audit[0]?.metadata).toMatchObject({ recovered: true });
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
  expect(final.error?.data).toMatchObject({ code: 'CONFLICT' });
  const op = await store.journal.get(result.halted!);
  expect(op?.status).toBe('aborted');
  // The transport audits the call too; the operation's own entry carries the reason.
  const audit = await store.audit.list({ team: team.team_name, operationType: 'rollback.emergency', limit: 5 });
  expect(audit.some((a) => a.rollbackReason === 'operator pressed stop')).toBe(true);
  await client.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token });
  await client.close();
  await sc.stop(5000);
});

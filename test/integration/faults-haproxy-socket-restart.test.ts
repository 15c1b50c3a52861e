import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { saveServerState } from '../support/haproxy-state-file';
import { eventually } from '../support/eventually';
import type { HaproxyProcess } from '../support/haproxy-process';
import { httpGet, type RpcClient } from '../support/sidecar-process-rpc';
import type { SidecarProcess } from '../support/sidecar-process';
import { startTrafficStack, type TrafficStack } from '../support/traffic-stack';
import type { Team } from '../../catalog/teams-file';

/**
 * HAProxy's Runtime API socket disappears mid-switch and comes back: haproxy
 * is stopped with traffic half-moved (its server state saved first, as an
 * operator's reload would) and started again with the same config and
 * server-state file, so it comes back with the half-moved weights. The switch
 * ends safely (not running, traffic wanted back on the source), and the
 * sidecar's reconcile loop re-applies the desired weights once HAProxy is back.
 */
jest.setTimeout(60_000);

let stack: TrafficStack;
let team: Team;
let hap: HaproxyProcess;
/** HAProxy processes this file started after the first (each restart). */
const restarted: ChildProcess[] = [];
let sc: SidecarProcess;
let c: RpcClient;
let SECRET: string;

beforeAll(async () => {
  stack = await startTrafficStack({ prefix: 'hs' });
  ({ team, haproxy: hap, secret: SECRET } = stack);
  sc = stack.sidecars[0]!;
  c = stack.clients[0]!;
});

afterAll(async () => {
  // stop() also stops the haproxy processes this file restarted (first) and removes the first one's dir.
  await stack?.stop();
});

async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

/** Starts haproxy again with the same config, master socket and server-state file. */
function restartHaproxy(): ChildProcess {
  const p = spawn('haproxy', ['-W', '-S', `${hap.masterSocketPath},mode,600`, '-f', hap.cfgPath], { stdio: 'ignore' });
  restarted.push(p);
  stack.defer(() => stopChild(p));
  return p;
}

it('haproxy stopped with traffic half-moved and started again: the switch ends, the reconcile loop puts all traffic back on blue', async () => {
  const lock = await c.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 120, owner: 'hs/switch#1' });
  expect(lock.error).toBeUndefined();
  const token = (lock.result as { token: number }).token;
  const answerP = c.call(
    'traffic.switch',
    { team: team.team_name, target: 'green', increments: [50, 100], validationSec: 30, minSamples: 0, drainTimeoutSec: 1, sampleIntervalMs: 200, lockToken: token },
    40_000,
  );
  await eventually('step-50 applied', async () => (c.notifications.some((n) => n.params?.phase === 'step-50' && n.params?.weights) ? true : null), 15_000);
  const half = await stack.weights();
  expect(half.blue).toBeGreaterThan(0);
  expect(half.green).toBeGreaterThan(0);

  // The operator's way to keep runtime weights over a restart, then the socket goes away.
  await saveServerState(hap.runtime, hap.stateFile);
  const exited = new Promise<void>((r) => hap.child.once('exit', () => r()));
  hap.child.kill('SIGTERM');
  await exited;

  const answer = await answerP;
  expect(answer.result).toBeUndefined();
  expect(answer.error?.data?.code).toBe('DEPENDENCY_DOWN');
  const operationId = String(answer.error?.data?.operationId);
  const op = await c.call('operation.get', { operationId });
  expect((op.result as { status: string }).status).not.toBe('running');
  // Postgres already wants all traffic on blue while HAProxy is away.
  const during = await c.call('environment.status', { team: team.team_name });
  expect(during.result).toMatchObject({ active: 'blue', operation: null, weights: { blue: half.blue + half.green, green: 0 } });
  const ready = await eventually('/readyz names HAProxy', async () => {
    const r = await httpGet(`${sc.httpUrl}/readyz`);
    return r.status === 503 ? r : null;
  }, 10_000);
  expect(ready.body.toLowerCase()).toContain('haproxy');

  // Same config, same server-state file: HAProxy comes back with the half-moved weights...
  restartHaproxy();
  const reloaded = await eventually('HAProxy answers again', async () => {
    const w = await stack.weights();
    return w.blue >= 0 ? w : null;
  }, 10_000);
  expect(reloaded.blue + reloaded.green).toBeGreaterThan(0);
  // ...and the reconcile loop (every 2 s) re-applies the desired weights.
  const settled = await eventually('reconciled weights', async () => {
    const w = await stack.weights();
    return w.green === 0 && w.blue > 0 ? w : null;
  }, 15_000);
  // It was the reconcile loop that did it (HAProxy came back with the saved half-moved weights).
  await eventually('the reconcile loop logs its repair', async () => (sc.log().includes('re-applied desired HAProxy weights') ? true : null), 5_000);
  const status = await c.call('environment.status', { team: team.team_name });
  expect(status.result).toMatchObject({ active: 'blue', operation: null, weights: settled });
  expect((await c.call('traffic.status', { team: team.team_name })).result).toMatchObject({ inSync: true });
  await eventually('/readyz ready again', async () => {
    const r = await httpGet(`${sc.httpUrl}/readyz`);
    return r.status === 200 ? r : null;
  }, 10_000);

  expect((await c.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token })).result).toEqual({ released: true });
  expect((await c.call('lock.list', { team: team.team_name })).result).toEqual({ locks: [] });
  const audit = await httpGet(`${sc.httpUrl}/api/v1/audit?team=${team.team_name}&limit=100`, { Authorization: `Bearer ${SECRET}` });
  const entries = (JSON.parse(audit.body) as { audit: Array<{ operationType: string; status: string; metadata: { error?: { code: string; message: string } } }> }).audit;
  // The dispatcher's record of the call says what failed and what happens next. (It carries no
  // operationId on this error path, and the switch itself writes no record when its rollback could
  // not reach HAProxy: reported to the lead.)
  const failed = entries.filter((e) => e.operationType === 'traffic.switch');
  expect(failed).toEqual([expect.objectContaining({ status: 'FAILURE', metadata: expect.objectContaining({ error: expect.objectContaining({ code: 'DEPENDENCY_DOWN' }) }) })]);
  expect(failed[0]!.metadata.error!.message).toMatch(/HAProxy/);
  expect(failed[0]!.metadata.error!.message).toMatch(/reconcile/);
});

it('haproxy crashes after a promotion and comes back from its config alone: no switch starts meanwhile, and the reconcile loop restores the promoted weights', async () => {
  const lock = await c.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 120, owner: 'hs/switch#2' });
  const token = (lock.result as { token: number }).token;
  const promoted = await c.call(
    'traffic.switch',
    { team: team.team_name, target: 'green', increments: [100], validationSec: 1, minSamples: 0, drainTimeoutSec: 1, sampleIntervalMs: 200, lockToken: token },
    30_000,
  );
  expect(promoted.result).toMatchObject({ status: 'promoted', to: 'green' });
  expect(await stack.weights()).toMatchObject({ blue: 0 });

  // A crash: no state saved, so HAProxy restarts with the config's weights (blue 100, green 0).
  await stopChild(restarted[restarted.length - 1]!);
  writeFileSync(hap.stateFile, '');
  const refused = await c.call('traffic.switch', { team: team.team_name, target: 'blue', increments: [100], validationSec: 1, minSamples: 0, lockToken: token }, 30_000);
  expect(refused.result).toBeUndefined();
  expect(refused.error?.data?.code).toBe('DEPENDENCY_DOWN');
  expect((await c.call('environment.status', { team: team.team_name })).result).toMatchObject({ active: 'green', operation: null, weights: { blue: 0, green: 100 } });

  restartHaproxy();
  const settled = await eventually('the promoted weights re-applied', async () => {
    const w = await stack.weights();
    return w.blue === 0 && w.green > 0 ? w : null;
  }, 15_000);
  expect((await c.call('environment.status', { team: team.team_name })).result).toMatchObject({ active: 'green', operation: null, weights: settled });
  expect((await c.call('traffic.status', { team: team.team_name })).result).toMatchObject({ inSync: true });
  expect((await c.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token })).result).toEqual({ released: true });
  expect((await c.call('lock.list', { team: team.team_name })).result).toEqual({ locks: [] });
  const audit = await httpGet(`${sc.httpUrl}/api/v1/audit?team=${team.team_name}&type=traffic.switch&limit=100`, { Authorization: `Bearer ${SECRET}` });
  const statuses = (JSON.parse(audit.body) as { audit: Array<{ status: string }> }).audit.map((e) => e.status);
  expect(statuses).toEqual(expect.arrayContaining(['promoted', 'FAILURE']));
});

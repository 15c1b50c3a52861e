import { createServer, type Server, type ServerResponse } from 'node:http';
import { HEALTH_PATH } from '../support/backends';
import type { HaproxyProcess } from '../support/haproxy-process';
import { startLoad, type LoadRun } from '../support/haproxy-load';
import { httpGet, type RpcClient } from '../support/sidecar-process-rpc';
import type { SidecarProcess } from '../support/sidecar-process';
import { startTrafficStack, type TrafficStack } from '../support/traffic-stack';
import type { Team } from '../../catalog/teams-file';

/**
 * Risk 5 (a switch stuck at an increment) against a real sidecar process and
 * a real HAProxy: the target accepts requests and never answers them. The
 * switch must not wait forever nor promote a target that answers nothing:
 * its window's timeout ends it with all traffic back on the source, the
 * operation ended, the lock free, and the audit saying so.
 */
jest.setTimeout(60_000);

/** A controller that passes its health checks but never answers ordinary requests (no timers: close() ends them). */
interface HangingBackend {
  hung(): number;
  hangHealth(on: boolean): void;
  close(): Promise<void>;
}

async function startHangingBackend(port: number): Promise<HangingBackend> {
  let hung = 0;
  let healthHangs = false;
  const pending = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    if (req.url === HEALTH_PATH && !healthHangs) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    hung += 1;
    pending.add(res);
    res.on('close', () => pending.delete(res));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok());
  });
  return {
    hung: () => hung,
    hangHealth: (on) => {
      healthHangs = on;
    },
    close: () =>
      new Promise<void>((ok) => {
        for (const r of pending) r.destroy();
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

let stack: TrafficStack<HangingBackend>;
let team: Team;
let hap: HaproxyProcess;
let green: HangingBackend;
let sc: SidecarProcess;
let c: RpcClient;
let SECRET: string;

beforeAll(async () => {
  stack = await startTrafficStack({ prefix: 'r5', startGreen: startHangingBackend });
  ({ team, haproxy: hap, green, secret: SECRET } = stack);
  sc = stack.sidecars[0]!;
  c = stack.clients[0]!;
});

afterAll(async () => {
  await stack?.stop();
});

/** Traffic wholly on blue, state and HAProxy agree, nothing running, the lock released, the audit names the rollback. */
async function expectBackOnBlue(lockToken: number | null, operationId: string): Promise<void> {
  const live = await stack.weights();
  expect(live.green).toBe(0);
  expect(live.blue).toBeGreaterThan(0);
  const status = await c.call('environment.status', { team: team.team_name });
  expect(status.result).toMatchObject({ active: 'blue', operation: null, weights: { blue: live.blue, green: 0 } });
  expect((await c.call('traffic.status', { team: team.team_name })).result).toMatchObject({ inSync: true });
  const op = await c.call('operation.get', { operationId });
  expect(op.result).toMatchObject({ status: 'rolled_back' });
  if (lockToken !== null) {
    // The caller releases its lock after the error (as the generated step does); nothing else holds one.
    expect((await c.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token: lockToken })).result).toEqual({ released: true });
    expect((await c.call('lock.list', { team: team.team_name })).result).toEqual({ locks: [] });
  }
  const audit = await httpGet(`${sc.httpUrl}/api/v1/audit?team=${team.team_name}&limit=100`, { Authorization: `Bearer ${SECRET}` });
  const entries = (JSON.parse(audit.body) as { audit: Array<{ operationType: string; status: string; operationId?: string | null }> }).audit;
  expect(entries.filter((e) => e.operationType === 'traffic.switch' && e.operationId === operationId).map((e) => e.status)).toEqual(expect.arrayContaining(['rolled_back']));
}

/** Green answers its health checks again and is UP (rise 2 at 200 ms), as a switch needs before it may start. */
async function greenAnsweringChecks(): Promise<void> {
  green.hangHealth(false);
  for (let i = 0; i < 50; i++) {
    const s = (await hap.runtime.showStat()).find((x) => x.server === team.environments.green.server && x.backend === team.haproxy_backend);
    if (s?.status === 'UP') break;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function lock(ttlSec = 120): Promise<number> {
  const r = await c.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec, owner: 'r5/switch#1' });
  expect(r.error).toBeUndefined();
  return (r.result as { token: number }).token;
}

it('the target accepts requests and never answers: the window times out and all traffic goes back to blue', async () => {
  const token = await lock();
  const load: LoadRun = startLoad(hap.httpPort, { connections: 8, maxSeconds: 30, rate: 40, path: `/${team.team_name}/job/load` });
  let answer;
  try {
    answer = await c.call(
      'traffic.switch',
      { team: team.team_name, target: 'green', increments: [50, 100], validationSec: 2, maxWindowSec: 4, minSamples: 5, drainTimeoutSec: 1, sampleIntervalMs: 200, lockToken: token },
      40_000,
    );
  } finally {
    await load.stop();
  }
  expect(green.hung()).toBeGreaterThan(0); // requests really reached the stuck target
  expect(answer.result).toBeUndefined();
  // Hung requests are counted by HAProxy but never answered: either not enough answers to judge (TIMEOUT) or a breach.
  expect(['TIMEOUT', 'SLI_BREACH']).toContain(answer.error?.data?.code);
  expect(answer.error?.data).toMatchObject({ operationStatus: 'rolled_back' });
  await expectBackOnBlue(token, String(answer.error?.data?.operationId));
});

it('with minSamples 0 a target that holds every request and answers none is not promoted: the window runs out and all traffic goes back to blue', async () => {
  const token = await lock();
  const load: LoadRun = startLoad(hap.httpPort, { connections: 8, maxSeconds: 30, rate: 40, path: `/${team.team_name}/job/load` });
  const hungBefore = green.hung();
  let answer;
  try {
    answer = await c.call(
      'traffic.switch',
      { team: team.team_name, target: 'green', increments: [50, 100], validationSec: 2, minSamples: 0, drainTimeoutSec: 1, sampleIntervalMs: 200, lockToken: token },
      40_000,
    );
  } finally {
    await load.stop();
  }
  expect(green.hung()).toBeGreaterThan(hungBefore);
  expect(answer.result).toBeUndefined();
  // Not a pass: the window extends for answers that never come, then rolls back (no breaker failure: nothing was judged).
  expect(answer.error?.data).toMatchObject({ code: 'TIMEOUT', operationStatus: 'rolled_back', step: 50 });
  expect(answer.error?.message).toMatch(/answered none of its requests at 50% in [\d.]+s while holding \d+ sessions/);
  await expectBackOnBlue(token, String(answer.error?.data?.operationId));
});

it('the target stops answering its health checks too mid-switch: availability breaks, all traffic goes back to blue', async () => {
  await greenAnsweringChecks();
  const token = await lock();
  c.notifications.splice(0); // only this switch's progress counts below
  const answerP = c.call(
    'traffic.switch',
    { team: team.team_name, target: 'green', increments: [50, 100], validationSec: 6, minSamples: 0, drainTimeoutSec: 1, sampleIntervalMs: 200, lockToken: token },
    40_000,
  );
  for (let i = 0; i < 100 && !c.notifications.some((n) => n.params?.phase === 'step-50' && n.params?.weights); i++) await new Promise((r) => setTimeout(r, 100));
  expect((await stack.weights()).green).toBeGreaterThan(0);
  green.hangHealth(true);
  const answer = await answerP;
  expect(answer.result).toBeUndefined();
  expect(answer.error?.data).toMatchObject({ code: 'SLI_BREACH', operationStatus: 'rolled_back' });
  expect(answer.error?.message).toMatch(/availability/);
  await expectBackOnBlue(token, String(answer.error?.data?.operationId));
  green.hangHealth(false);
});

it('the caller goes away during a stuck switch: the switch still ends by its timeout, and the lock it never released lapses at its TTL', async () => {
  await greenAnsweringChecks();
  const token = await lock(6);
  c.notifications.splice(0);
  const load: LoadRun = startLoad(hap.httpPort, { connections: 8, maxSeconds: 30, rate: 40, path: `/${team.team_name}/job/load` });
  try {
    const answer = c.call(
      'traffic.switch',
      { team: team.team_name, target: 'green', increments: [50, 100], validationSec: 2, maxWindowSec: 4, minSamples: 5, drainTimeoutSec: 1, sampleIntervalMs: 200, lockToken: token },
      40_000,
    );
    answer.catch(() => undefined);
    for (let i = 0; i < 100 && !c.notifications.some((n) => n.params?.phase === 'step-50' && n.params?.weights); i++) await new Promise((r) => setTimeout(r, 100));
    const step = c.notifications.find((n) => n.params?.phase === 'step-50');
    expect(step).toBeDefined();
    const operationId = String(step!.params!.operationId);
    c.ws.terminate(); // the calling build's agent dies
    c = await stack.connect(sc);
    let ended: { status: string } | undefined;
    for (let i = 0; i < 100 && !ended; i++) {
      const rec = (await c.call('operation.get', { operationId })).result as { status: string } | undefined;
      if (rec && rec.status !== 'running') ended = rec;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(ended?.status).toBe('rolled_back');
    await expectBackOnBlue(null, operationId);
  } finally {
    await load.stop();
  }
  // Nobody releases the lock: it lapses at its TTL, and another build then gets it with a newer token.
  let locks: unknown[] = [{}];
  for (let i = 0; i < 60 && locks.length > 0; i++) {
    locks = ((await c.call('lock.list', { team: team.team_name })).result as { locks: unknown[] }).locks;
    if (locks.length > 0) await new Promise((r) => setTimeout(r, 250));
  }
  expect(locks).toEqual([]);
  const next = await c.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 30, owner: 'r5/switch#2' });
  expect((next.result as { token: number }).token).toBeGreaterThan(token);
  await c.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token: (next.result as { token: number }).token });
});

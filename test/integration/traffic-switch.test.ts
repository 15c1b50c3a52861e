import { trafficSwitchParams, rollbackEmergencyParams } from '../../catalog/methods/traffic';
import type { Team } from '../../catalog/teams-file';
import { SidecarError } from '../../agent/src/sidecar-error';
import { OperationRunner } from '../../agent/src/operations/runner';
import { createPgStore, type PgStore } from '../../agent/src/store';
import type { Actor } from '../../agent/src/store/contract';
import { runEmergencyRollback } from '../../agent/src/traffic/emergency';
import { InFlightSwitches } from '../../agent/src/traffic/in-flight';
import { reconcileWeightsOnce } from '../../agent/src/traffic/reconcile';
import { trafficStatus } from '../../agent/src/traffic/status';
import { breakerNameFor, runTrafficSwitch, trafficDeps, type TrafficDeps } from '../../agent/src/traffic/switch';
import { httpWebhookNotifier } from '../../agent/src/traffic/webhooks';
import { createServer } from 'node:http';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freeTeamPorts, startBackend, type Backend } from '../support/backends';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { startLoad } from '../support/haproxy-load';
import { testTeam } from '../support/haproxy-teams';

jest.setTimeout(60_000);

/**
 * traffic.switch end to end: real haproxy, real backends on 127.0.0.1, real
 * Postgres store, the real operation runner. Windows are 1 s, sampling 200 ms.
 */
let db: TestDatabase;
let store: PgStore;
let hap: HaproxyProcess;
let team: Team;
let blue: Backend;
let green: Backend;
let runner: OperationRunner;
let deps: TrafficDeps;
const inFlight = new InFlightSwitches();
const actor: Actor = { tokenId: 'ops', build: 'devops/Infrastructure/Self-Managed-Blue-Green-Switch#7', instanceId: 'traffic-test' };

beforeAll(async () => {
  db = await createTestDatabase('traffic');
  // Several tests roll back on purpose: let the breaker take more than the seed's 3 failures here.
  store = await createPgStore({
    connectionString: db.url,
    instanceId: 'traffic-test',
    breakerPolicy: () => ({ maxFailures: 20, failureWindowMs: 600_000, recoveryMs: 1_000, trialTimeoutMs: 60_000 }),
  });
  const ports = await freeTeamPorts();
  team = testTeam({ prefix: 'ts', ...ports });
  blue = await startBackend(team.environments.blue.web_port, 'blue');
  green = await startBackend(team.environments.green.web_port, 'green');
  hap = await startHaproxy([team]);
  runner = new OperationRunner({ journal: store.journal, clock: { now: () => new Date() } });
  deps = trafficDeps({ store, haproxy: hap.runtime, teamConfig: (t) => (t === team.team_name ? team : undefined), inFlight });
});

afterAll(async () => {
  await runner?.drain(5000);
  await hap?.stop();
  await blue?.close();
  await green?.close();
  await store?.close();
  await db?.drop();
});

async function lockToken(): Promise<number> {
  await store.locks.release({ team: team.team_name, operation: 'blue_green_switch', owner: 'test', actor }).catch(() => undefined);
  return (await store.locks.acquire({ team: team.team_name, operation: 'blue_green_switch', ttlSec: 120, waitSec: 0, owner: 'test', actor })).token;
}

async function liveWeights(): Promise<{ blue: number; green: number }> {
  const stats = (await hap.runtime.showStat()).filter((s) => s.backend === team.haproxy_backend);
  return { blue: stats.find((s) => s.server === team.environments.blue.server)!.weight, green: stats.find((s) => s.server === team.environments.green.server)!.weight };
}

function runSwitch(raw: Record<string, unknown>, onProgress: (e: { phase: string; message: string }) => void = () => undefined): Promise<unknown> {
  const params = trafficSwitchParams.parse({ team: team.team_name, validationSec: 1, sampleIntervalMs: 200, minSamples: 20, ...raw });
  return runner
    .run({ type: 'traffic.switch', team: team.team_name, params, actor, onProgress: (e) => onProgress(e as never) }, (ctx) => runTrafficSwitch(deps, params, ctx))
    .then((o) => o.result);
}

async function rejection(p: Promise<unknown>): Promise<SidecarError> {
  try {
    await p;
  } catch (err) {
    return err as SidecarError;
  }
  throw new Error('expected the switch to fail');
}

it('refuses a switch without the live fencing token (FENCED) and changes nothing', async () => {
  const token = await lockToken();
  const err = await rejection(runSwitch({ target: 'green', lockToken: token + 1000 }));
  expect(err.code).toBe('FENCED');
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
});

it('switches blue→green under load with 0 non-2xx and 0 socket errors, drains blue to maint and promotes', async () => {
  const token = await lockToken();
  const phases: string[] = [];
  const load = startLoad(hap.httpPort, { connections: 8, maxSeconds: 45 });
  let result: { status: string; steps: Array<{ percent: number; verdict: string; figures: { requests: number } }>; drained: unknown };
  try {
    result = (await runSwitch({ target: 'green', lockToken: token }, (e) => phases.push(e.phase))) as typeof result;
  } finally {
    const totals = await load.stop();
    process.stdout.write(`full switch under load: ${totals.requests} requests, ${totals.non2xx} non-2xx, ${totals.errors} errors, ${totals.timeouts} timeouts\n`);
    expect(totals.requests).toBeGreaterThan(100);
    expect(totals.non2xx).toBe(0);
    expect(totals.errors).toBe(0);
  }
  expect(result.status).toBe('promoted');
  expect(result.steps.map((s) => [s.percent, s.verdict])).toEqual([
    [5, 'pass'],
    [10, 'pass'],
    [25, 'pass'],
    [50, 'pass'],
    [100, 'pass'],
  ]);
  expect(result.steps.every((s) => s.figures.requests >= 20)).toBe(true);
  expect(phases).toEqual(expect.arrayContaining(['step-5', 'step-100', 'drain', 'done']));
  expect(await liveWeights()).toEqual({ blue: 0, green: 100 });
  const blueStat = (await hap.runtime.showStat()).find((s) => s.server === team.environments.blue.server && s.backend === team.haproxy_backend);
  expect(blueStat?.status).toBe('MAINT');
  const state = await store.environments.get(team.team_name);
  expect(state).toMatchObject({ active: 'green', previous: 'blue', lastKnownGood: 'green', weights: { blue: 0, green: 100 } });
  const op = (await store.journal.list({ team: team.team_name, limit: 1 }))[0];
  expect(op.status).toBe('succeeded');
  // Every weight change journaled before (intent) and after (done).
  const weightSteps = op.steps.filter((s) => s.name === 'weights');
  expect(weightSteps).toHaveLength(5);
  expect(weightSteps.every((s) => s.outcome === 'done' && s.result && (s.intent as { weights?: unknown }).weights)).toBe(true);
});

it('emergency rollback puts all traffic on the last known good side within a second, with the old side out of maint', async () => {
  // The team is on green now; the operator sends everything back to blue.
  const params = rollbackEmergencyParams.parse({ team: team.team_name, reason: 'performance degradation', target: 'blue' });
  const started = Date.now();
  const out = await runner.run({ type: 'rollback.emergency', team: team.team_name, params, actor }, (ctx) => runEmergencyRollback(deps, params, ctx));
  const elapsed = Date.now() - started;
  process.stdout.write(`emergency rollback applied in ${(out.result as { elapsedMs: number }).elapsedMs} ms (call ${elapsed} ms)\n`);
  expect(out.result).toMatchObject({ active: 'blue', weights: { blue: 100, green: 0 } });
  expect(elapsed).toBeLessThan(1000);
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
  expect((await store.environments.get(team.team_name))?.active).toBe('blue');
  const audit = await store.audit.list({ team: team.team_name, operationType: 'rollback.emergency' });
  expect(audit[0]).toMatchObject({ rollbackReason: 'performance degradation' });
  // Blue was left in maint by the switch; it must come back UP for the next tests.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const s = (await hap.runtime.showStat()).find((x) => x.backend === team.haproxy_backend && x.server === team.environments.blue.server);
    if (s?.status === 'UP') break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

it('rolls back within 2 s when green answers 500 to 30% of requests during the 25% step (SLI_BREACH, breaker failure)', async () => {
  const token = await lockToken();
  const failuresBefore = (await store.breakers.status(breakerNameFor(team.team_name))).failures;
  const load = startLoad(hap.httpPort, { connections: 8, maxSeconds: 45 });
  let injectedAt = 0;
  const err = await rejection(
    runSwitch({ target: 'green', lockToken: token }, (e) => {
      if (e.phase === 'step-25' && !injectedAt) {
        injectedAt = Date.now();
        green.set({ errorRate: 0.3 });
      }
    }),
  ).finally(async () => {
    const totals = await load.stop();
    process.stdout.write(`breach run: ${totals.requests} requests, ${totals.non2xx} non-2xx\n`);
  });
  green.set({ errorRate: 0 });
  expect(err.code).toBe('SLI_BREACH');
  const data = err.data as { step: number; errorRate: number; rollbackMs: number; rolledBackAt: string; detectedAt: string; breaches: Array<{ metric: string }> };
  expect(data.step).toBe(25);
  expect(data.breaches[0].metric).toBe('error_rate');
  expect(data.errorRate).toBeGreaterThan(15);
  const fromInjection = Date.parse(data.rolledBackAt) - injectedAt;
  process.stdout.write(`error breach: measured error rate ${data.errorRate}%, traffic back ${data.rollbackMs} ms after the deciding sample, ${fromInjection} ms after the injection\n`);
  expect(fromInjection).toBeLessThan(2000);
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
  const op = (await store.journal.list({ team: team.team_name, limit: 1 }))[0];
  expect(op.status).toBe('rolled_back');
  expect((await store.breakers.status(breakerNameFor(team.team_name))).failures).toBe(failuresBefore + 1);
  const audit = await store.audit.list({ team: team.team_name, operationType: 'traffic.switch' });
  expect(audit[0]).toMatchObject({ status: 'rolled_back', rollbackReason: expect.stringContaining('error_rate') });
});

it('rolls back on injected latency (response_time trigger) within 2 s of the deciding sample', async () => {
  const token = await lockToken();
  const load = startLoad(hap.httpPort, { connections: 16, maxSeconds: 45 });
  let injectedAt = 0;
  const err = await rejection(
    runSwitch({ target: 'green', lockToken: token, minSamples: 5, triggers: ['error_rate > 2%', 'response_time > 400ms', 'availability < 99.5%'] }, (e) => {
      if (e.phase === 'step-25' && !injectedAt) {
        injectedAt = Date.now();
        green.set({ delayMs: 1200 });
      }
    }),
  ).finally(async () => {
    await load.stop();
  });
  green.set({ delayMs: 0 });
  expect(err.code).toBe('SLI_BREACH');
  const data = err.data as { step: number; responseTimeMs: number; rollbackMs: number; rolledBackAt: string; breaches: Array<{ metric: string }> };
  expect(data.breaches.map((b) => b.metric)).toContain('response_time');
  process.stdout.write(`latency breach at ${data.step}%: measured response time ${data.responseTimeMs} ms, traffic back ${data.rollbackMs} ms after the deciding sample (${Date.parse(data.rolledBackAt) - injectedAt} ms after the injection)\n`);
  expect(data.responseTimeMs).toBeGreaterThan(400);
  expect(data.rollbackMs).toBeLessThan(2000);
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
});

it('does not pass a window with too few requests: extends it, says so, then rolls back', async () => {
  const token = await lockToken();
  const messages: string[] = [];
  const err = await rejection(runSwitch({ target: 'green', lockToken: token, maxWindowSec: 2 }, (e) => messages.push(e.message)));
  expect(err.code).toBe('TIMEOUT');
  expect(err.message).toMatch(/not enough to judge/);
  expect(messages.some((m) => /extending up to 2s/.test(m))).toBe(true);
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
  expect((await store.journal.list({ team: team.team_name, limit: 1 }))[0].status).toBe('rolled_back');
});

it('re-applies the desired weights after an HAProxy reload that lost them', async () => {
  await store.environments.setDesiredWeights(team.team_name, { blue: 70, green: 30 });
  await hap.runtime.setWeights([
    { backend: team.haproxy_backend, server: team.environments.blue.server, weight: 70 },
    { backend: team.haproxy_backend, server: team.environments.green.server, weight: 30 },
  ]);
  await hap.reload({}, false); // no server-state save: HAProxy starts from the config's 100/0
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
  const repairs = await reconcileWeightsOnce({ environments: store.environments, haproxy: hap.runtime, teamConfig: deps.teamConfig });
  expect(repairs).toEqual([expect.objectContaining({ team: team.team_name, live: { blue: 100, green: 0 }, desired: { blue: 70, green: 30 } })]);
  expect(await liveWeights()).toEqual({ blue: 70, green: 30 });
  const status = await trafficStatus(deps, team.team_name);
  expect(status).toMatchObject({ inSync: true, desired: { blue: 70, green: 30 }, live: { blue: 70, green: 30 } });
  await store.environments.setDesiredWeights(team.team_name, { blue: 100, green: 0 });
  await reconcileWeightsOnce({ environments: store.environments, haproxy: hap.runtime, teamConfig: deps.teamConfig });
});

it('halts an in-flight switch on an emergency rollback, whatever its step', async () => {
  const token = await lockToken();
  const load = startLoad(hap.httpPort, { connections: 4, maxSeconds: 45 });
  const params = rollbackEmergencyParams.parse({ team: team.team_name, reason: 'manual emergency stop' });
  let emergency: Promise<unknown> | undefined;
  const err = await rejection(
    runSwitch({ target: 'green', lockToken: token, validationSec: 5 }, (e) => {
      if (e.phase === 'step-10' && !emergency) {
        emergency = runner.run({ type: 'rollback.emergency', team: team.team_name, params, actor }, (ctx) => runEmergencyRollback(deps, params, ctx));
      }
    }),
  ).finally(async () => {
    await load.stop();
  });
  const out = (await emergency) as { result: { active: string; halted: string | null; elapsedMs: number } };
  expect(err.message).toMatch(/halted/);
  expect(out.result.active).toBe('blue');
  expect(out.result.halted).not.toBeNull();
  expect(out.result.elapsedMs).toBeLessThan(1000);
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
  const op = await store.journal.get(out.result.halted!);
  expect(op?.status).toBe('aborted');
});

it('holds at a step when configured, says so, then rolls back at the hold bound', async () => {
  const token = await lockToken();
  const messages: string[] = [];
  const err = await rejection(runSwitch({ target: 'green', lockToken: token, maxWindowSec: 1, onInsufficientSamples: 'hold', holdSec: 1 }, (e) => messages.push(e.message)));
  expect(err.code).toBe('TIMEOUT');
  expect(messages.some((m) => /holding at 5%/.test(m))).toBe(true);
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
});

it('refuses to start while the target is not UP and moves no traffic', async () => {
  const token = await lockToken();
  await green.close();
  try {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const s = (await hap.runtime.showStat()).find((x) => x.backend === team.haproxy_backend && x.server === team.environments.green.server);
      if (s?.status.startsWith('DOWN')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const err = await rejection(runSwitch({ target: 'green', lockToken: token, readyTimeoutSec: 1 }));
    expect(err.code).toBe('CONFLICT');
    expect(err.reason).toBe('target_not_ready');
    expect(err.message).toMatch(/No traffic was moved/);
    expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
    const op = (await store.journal.list({ team: team.team_name, limit: 1 }))[0];
    expect(op.steps.filter((s) => s.name === 'weights')).toHaveLength(0);
  } finally {
    green = await startBackend(team.environments.green.web_port, 'green');
  }
});

it('a switch whose lock was taken over by a newer holder stops at its next step and rolls back (FENCED)', async () => {
  await store.locks.release({ team: team.team_name, operation: 'blue_green_switch', owner: 'test', actor }).catch(() => undefined);
  const token = (await store.locks.acquire({ team: team.team_name, operation: 'blue_green_switch', ttlSec: 1, waitSec: 0, owner: 'test', actor })).token;
  let takeover: Promise<unknown> | undefined;
  const load = startLoad(hap.httpPort, { connections: 4, maxSeconds: 45 });
  const err = await rejection(
    runSwitch({ target: 'green', lockToken: token, validationSec: 2 }, (e) => {
      if (e.phase === 'step-5' && !takeover) {
        takeover = store.locks.acquire({ team: team.team_name, operation: 'blue_green_switch', ttlSec: 30, waitSec: 5, owner: 'newer-build', actor });
      }
    }),
  ).finally(async () => {
    await load.stop();
  });
  expect(err.code).toBe('FENCED');
  expect(err.message).toMatch(/moved back to blue/);
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
  const g = (await takeover) as { token: number };
  await store.locks.release({ team: team.team_name, operation: 'blue_green_switch', token: g.token, owner: 'newer-build', actor });
});

it('calls the team webhooks; a refusing pre-switch hook stops the switch before anything moves', async () => {
  const calls: Array<{ path: string; body: { event: string; percent?: number } }> = [];
  let refuse = true;
  const hookServer = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      calls.push({ path: req.url ?? '', body: JSON.parse(text) as { event: string; percent?: number } });
      res.writeHead(req.url === '/pre' && refuse ? 409 : 204);
      res.end();
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}`;
  const saved = deps.webhooks;
  deps.webhooks = httpWebhookNotifier(() => ({ preSwitch: `${base}/pre`, step: `${base}/step`, promoted: `${base}/promoted`, rolledBack: `${base}/rolled-back` }));
  try {
    const token = await lockToken();
    const err = await rejection(runSwitch({ target: 'green', lockToken: token, increments: [50, 100], minSamples: 0 }));
    expect(err.code).toBe('CONFLICT');
    expect(err.reason).toBe('webhook_refused');
    expect(err.message).toMatch(/pre-switch webhook .* refused/);
    expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
    refuse = false;
    const ok = (await runSwitch({ target: 'green', lockToken: token, increments: [50, 100], minSamples: 0 })) as { status: string };
    expect(ok.status).toBe('promoted');
    // Notifications are sent without waiting; give the last one a moment to land.
    for (let i = 0; i < 50 && !calls.some((c) => c.path === '/promoted'); i += 1) await new Promise((r) => setTimeout(r, 20));
    expect(calls.map((c) => `${c.path}:${c.body.percent ?? ''}`)).toEqual(['/pre:', '/pre:', '/step:50', '/step:100', '/promoted:']);
  } finally {
    deps.webhooks = saved;
    await new Promise<void>((r) => hookServer.close(() => r()));
  }
  // Back to blue for whatever runs next.
  const params = rollbackEmergencyParams.parse({ team: team.team_name, reason: 'reset after webhook test', target: 'blue' });
  await runner.run({ type: 'rollback.emergency', team: team.team_name, params, actor }, (ctx) => runEmergencyRollback(deps, params, ctx));
});

it('rolls back when the target stops passing health checks mid-switch (availability), never lowering blue further', async () => {
  const token = await lockToken();
  let killed = false;
  const err = await rejection(
    runSwitch({ target: 'green', lockToken: token, validationSec: 2, minSamples: 0 }, (e) => {
      if (e.phase === 'step-10' && !killed) {
        killed = true;
        void green.close();
      }
    }),
  );
  green = await startBackend(team.environments.green.web_port, 'green');
  expect(err.code).toBe('SLI_BREACH');
  expect((err.data as { breaches: Array<{ metric: string }> }).breaches.map((b) => b.metric)).toContain('availability');
  expect((err.data as { step: number }).step).toBe(10);
  expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
  const op = (await store.journal.list({ team: team.team_name, limit: 1 }))[0];
  expect(op.steps.filter((s) => s.name === 'weights').map((s) => (s.intent as { step: number }).step)).toEqual([5, 10]);
});

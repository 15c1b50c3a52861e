import { rmSync } from 'node:fs';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startBackend } from '../support/backends';
import { makeTestTeam, type TestTeam } from '../support/docker-teams';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { startLoad, type LoadRun } from '../support/haproxy-load';
import { startPrivateDockerd, type PrivateDockerd } from '../support/private-dockerd';
import { httpGet, RpcClient } from '../support/sidecar-process-rpc';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { ensureStandinImage } from '../support/standin-image';
import { eventually } from '../support/eventually';

/**
 * Issue 8, "the Docker engine restarting": the engine is stopped with SIGTERM
 * (as a package upgrade does) under a serving blue, and started again on the
 * same data root. The engine is this file's OWN dockerd (its own socket, data
 * root, exec root and containerd), so stopping it kills no other test's
 * containers. Real embedded PostgreSQL, real haproxy, the built jenkins-sidecar.
 */
jest.setTimeout(90_000);

let engine: PrivateDockerd;
let db: TestDatabase;
let t: TestTeam;
let hap: HaproxyProcess;
let sc: SidecarProcess;
let c: RpcClient;
let load: LoadRun | null = null;
let sampler: { stop(): Promise<Array<{ blue: number; green: number }>> } | null = null;
const SECRET = `ops-${Math.random().toString(16).slice(2)}-secret-token`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  engine = await startPrivateDockerd();
  await ensureStandinImage(engine.docker, { dockerHost: engine.dockerHost, tags: ['1'] });
  db = await createTestDatabase('dockrst');
  t = await makeTestTeam({ prefix: 'dr' });
  // haproxy-process waits for every server UP at start: stand-ins answer the checks on both ports until
  // haproxy runs, then go, so green is DOWN (never deployed) and blue's port is free for its container.
  const temp = [await startBackend(t.team.environments.blue.web_port, 'temp-blue'), await startBackend(t.team.environments.green.web_port, 'temp-green')];
  try {
    hap = await startHaproxy([t.team]);
  } finally {
    await Promise.all(temp.map((b) => b.close()));
  }
  sc = await startSidecarProcess({
    databaseUrl: db.url,
    instanceId: `dr-${Math.random().toString(16).slice(2, 8)}`,
    tokens: [{ id: 'ops', teams: ['*'], secret: SECRET }],
    env: { DOCKER_HOST: engine.dockerHost, SIDECAR_TEAMS_FILE: t.teamsFile, SIDECAR_HAPROXY_SOCKET: hap.socketPath },
  });
  c = await RpcClient.connect(sc.rpcUrl, SECRET);
});

afterAll(async () => {
  await load?.stop().catch(() => undefined);
  await sampler?.stop().catch(() => undefined);
  await c?.close();
  await sc?.stop().catch(() => undefined);
  await hap?.stop().catch(() => undefined);
  // The team's containers and volumes live in the private engine's data root: they go with it.
  await engine?.destroy();
  if (t) rmSync(t.dir, { recursive: true, force: true });
  await db?.drop();
});


async function haproxyServers(): Promise<{ blue: { weight: number; status: string; reqTot: number }; green: { weight: number; status: string; reqTot: number } }> {
  const stats = await hap.runtime.showStat();
  const one = (server: string) => {
    const s = stats.find((x) => x.backend === t.team.haproxy_backend && x.server === server);
    if (!s) throw new Error(`haproxy has no server ${server} in ${t.team.haproxy_backend}`);
    return { weight: s.weight, status: s.status, reqTot: s.reqTot };
  };
  return { blue: one(t.team.environments.blue.server), green: one(t.team.environments.green.server) };
}

/** Reads HAProxy's weights every 250 ms until stopped (bounded: 80 s): proves traffic never split. */
function sampleWeights(): { stop(): Promise<Array<{ blue: number; green: number }>> } {
  const seen: Array<{ blue: number; green: number }> = [];
  let stopped = false;
  const done = (async () => {
    const deadline = Date.now() + 80_000;
    while (!stopped && Date.now() < deadline) {
      const s = await haproxyServers().catch(() => null);
      if (s) seen.push({ blue: s.blue.weight, green: s.green.weight });
      await sleep(250);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return seen;
    },
  };
}

type Rpc = Awaited<ReturnType<RpcClient['call']>>;
const teamName = (): string => t.team.team_name;

async function locks(): Promise<Array<{ lockName: string; holder: string }>> {
  const r = await c.call('lock.list', { team: teamName() });
  return (r.result as { locks: Array<{ lockName: string; holder: string }> }).locks;
}

async function runningOperations(): Promise<Array<{ id: string; type: string }>> {
  const r = await httpGet(`${sc.httpUrl}/api/v1/operations?team=${teamName()}&status=running&limit=50`, { Authorization: `Bearer ${SECRET}` });
  expect(r.status).toBe(200);
  const ops = (JSON.parse(r.body) as { operations: Array<{ id: string; type: string; status: string }> }).operations;
  return ops.filter((o) => o.status === 'running');
}

it('dockerd stopped under a serving blue and started again: the sidecar reports Docker down, refuses deploys with DEPENDENCY_DOWN, reconnects by itself; traffic never leaves blue', async () => {
  const team = teamName();
  const blueName = t.team.environments.blue.container;

  // 1. Blue deployed in the private engine, serving through HAProxy, with a bounded load running.
  const blue = await c.call('environment.deploy', { team, target: 'blue', timeoutSec: 60 }, 70_000);
  expect(blue.error).toBeUndefined();
  expect(blue.result).toMatchObject({ container: blueName, healthy: true });
  await eventually('haproxy sees blue UP', async () => ((await haproxyServers()).blue.status === 'UP' ? true : null), 15_000);
  expect((await httpGet(`http://127.0.0.1:${hap.httpPort}/login`)).status).toBe(200);
  // A pipeline holding the team's lock dies with the engine: its lease must run out, not outlive the fault.
  const lease = await c.call('lock.acquire', { team, operation: 'blue_green_switch', ttlSec: 6, owner: 'dr/switch#1' });
  expect(lease.error).toBeUndefined();
  const leaseEnds = Date.parse((lease.result as { expiresAt: string }).expiresAt);
  sampler = sampleWeights();
  load = startLoad(hap.httpPort, { connections: 2, rate: 20, maxSeconds: 75, path: '/login' });
  await sleep(500);

  // 2. The engine goes away as a package upgrade takes it: SIGTERM, its containers stopped with it.
  const sidecarPid = sc.pid;
  await engine.stop();
  expect(engine.running()).toBe(false);

  const notReady = await eventually('/readyz names Docker as down', async () => {
    const r = await httpGet(`${sc.httpUrl}/readyz`);
    return r.status === 503 ? r : null;
  }, 15_000);
  const report = JSON.parse(notReady.body) as { ready: boolean; checks: Record<string, { status: string; detail?: string }>; message: string };
  expect(report.ready).toBe(false);
  expect(report.checks.docker).toMatchObject({ status: 'down' });
  expect(report.checks.docker!.detail).toContain(engine.socketPath);
  expect(report.checks.postgres).toMatchObject({ status: 'up' });
  expect(report.checks.haproxy).toMatchObject({ status: 'up' });
  expect(report.message).toMatch(/docker is down/);
  expect((await httpGet(`${sc.httpUrl}/healthz`)).status).toBe(200);

  const refused: Rpc = await c.call('environment.deploy', { team, target: 'green', timeoutSec: 30 }, 40_000);
  expect(refused.result).toBeUndefined();
  expect(refused.error?.data?.code).toBe('DEPENDENCY_DOWN');
  // Actionable: names the engine, its socket, what to check, and that a retry is all it takes.
  expect(refused.error?.message).toContain(`Docker engine: inspect container ${t.team.environments.green.container} failed: no Docker socket at ${engine.socketPath} (the engine is stopped or restarting)`);
  expect(refused.error?.message).toMatch(/check that dockerd is running and DOCKER_HOST points at it, then retry/);
  // Nothing changed: the operation ended failed (none left running), it took no lock, the state and HAProxy still all on blue.
  expect(await runningOperations()).toEqual([]);
  const journaled = await httpGet(`${sc.httpUrl}/api/v1/operations?team=${team}&limit=50`, { Authorization: `Bearer ${SECRET}` });
  const greenOps = (JSON.parse(journaled.body) as { operations: Array<{ type: string; status: string; params: { target?: string } }> }).operations.filter(
    (o) => o.type === 'environment.deploy' && o.params.target === 'green',
  );
  expect(greenOps.map((o) => o.status)).toEqual(['failed']);
  expect((await locks()).filter((l) => l.holder !== 'dr/switch#1')).toEqual([]);
  const during = await c.call('environment.status', { team, containers: true });
  expect(during.result).toMatchObject({ active: 'blue', operation: null, weights: { blue: 100, green: 0 } });
  // The status still answers, and says Docker could not be asked (not an error, not a hang).
  const duringContainers = (during.result as { containers: Record<string, { state: string; detail?: string }> }).containers;
  expect(duringContainers.blue).toMatchObject({ container: blueName, state: 'unknown' });
  expect(duringContainers.blue!.detail).toContain(engine.socketPath);
  const hapDuring = await haproxyServers();
  expect(hapDuring.blue.weight).toBe(100);
  expect(hapDuring.green.weight).toBe(0);
  expect(sc.exited()).toBe(false);

  // 3. The engine comes back on the same data root: blue restarts by its policy, the sidecar reconnects unrestarted.
  await engine.start();
  const back = await eventually('blue running and healthy again', async () => {
    const info = await engine.docker.getContainer(blueName).inspect();
    return info.State?.Running && info.State.Health?.Status === 'healthy' ? info : null;
  }, 45_000);
  expect(back.HostConfig?.RestartPolicy?.Name).toBe('unless-stopped');
  const ready = await eventually('/readyz ready again', async () => {
    const r = await httpGet(`${sc.httpUrl}/readyz`);
    return r.status === 200 ? r : null;
  }, 15_000);
  expect((JSON.parse(ready.body) as { checks: Record<string, { status: string }> }).checks.docker).toMatchObject({ status: 'up' });
  expect(sc.exited()).toBe(false);
  expect(sc.pid).toBe(sidecarPid);
  await eventually('haproxy sees blue UP again', async () => ((await haproxyServers()).blue.status === 'UP' ? true : null), 15_000);
  expect((await httpGet(`http://127.0.0.1:${hap.httpPort}/login`)).status).toBe(200);
  const after = await c.call('environment.status', { team, containers: true });
  expect(after.result).toMatchObject({
    active: 'blue',
    operation: null,
    weights: { blue: 100, green: 0 },
    containers: { blue: { container: blueName, state: 'running', health: 'healthy' }, green: { container: t.team.environments.green.container, state: 'missing' } },
  });

  const green = await c.call('environment.deploy', { team, target: 'green', timeoutSec: 60 }, 70_000);
  expect(green.error).toBeUndefined();
  expect(green.result).toMatchObject({ container: t.team.environments.green.container, healthy: true });

  const totals = await load.stop();
  load = null;
  const weights = await sampler.stop();
  sampler = null;
  // The load reached blue before and after the outage; HAProxy never gave green any weight or request.
  expect(totals.requests).toBeGreaterThan(0);
  expect(weights.length).toBeGreaterThan(0);
  expect(weights.filter((w) => w.green !== 0 || w.blue !== 100)).toEqual([]);
  const end = await haproxyServers();
  expect(end.blue.reqTot).toBeGreaterThan(0);
  expect(end.green.reqTot).toBe(0);
  expect(end.green.weight).toBe(0);

  expect(await runningOperations()).toEqual([]);
  // The dead pipeline's lease ran out: nothing listed, and another holder gets the lock at once.
  await eventually('the lease is past its TTL', async () => (Date.now() > leaseEnds ? true : null), 15_000);
  expect(await locks()).toEqual([]);
  const next = await c.call('lock.acquire', { team, operation: 'blue_green_switch', ttlSec: 30, owner: 'dr/switch#2' });
  expect(next.error).toBeUndefined();
  expect((await c.call('lock.release', { team, operation: 'blue_green_switch', token: (next.result as { token: number }).token })).result).toEqual({ released: true });
  expect(await locks()).toEqual([]);

  // The audit says what happened: the refused deploy (Docker down) and the two that succeeded.
  const audit = await httpGet(`${sc.httpUrl}/api/v1/audit?team=${team}&type=environment.deploy&limit=100`, { Authorization: `Bearer ${SECRET}` });
  expect(audit.status).toBe(200);
  const entries = (JSON.parse(audit.body) as { audit: Array<{ operationType: string; targetEnvironment?: string | null; status: string; metadata: { params?: { target?: string }; error?: { code: string; message: string } } }> }).audit;
  const failures = entries.filter((e) => e.status === 'FAILURE');
  expect(failures).toHaveLength(1);
  expect(failures[0]!.metadata.params?.target).toBe('green');
  expect(failures[0]!.metadata.error).toMatchObject({ code: 'DEPENDENCY_DOWN' });
  expect(failures[0]!.metadata.error!.message).toMatch(/Docker engine/);
  expect(entries.filter((e) => e.status === 'SUCCESS').map((e) => e.metadata.params?.target).sort()).toEqual(['blue', 'green']);
});

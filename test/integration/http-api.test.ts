import { spawnSync } from 'node:child_process';
import { RpcConnection } from '../../agent/src/rpc/client';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startBareHaproxy, startTestSidecar, type InProcessSidecar } from '../support/sidecar-harness';

/** Health, readiness (each dependency), Prometheus metrics and the read API against real PostgreSQL, haproxy and Docker. */
let db: TestDatabase;
let haproxy: { socketPath: string; stop(): Promise<void> };
let healthy: InProcessSidecar;
let broken: InProcessSidecar;
let bare: InProcessSidecar;

const tokens = [
  { id: 'ops', teams: ['*'] },
  { id: 'devops-ci', teams: ['devops'] },
];

beforeAll(async () => {
  db = await createTestDatabase('http');
  haproxy = await startBareHaproxy();
  healthy = await startTestSidecar({ databaseUrl: db.url, tokens, env: { SIDECAR_HAPROXY_SOCKET: haproxy.socketPath } });
  broken = await startTestSidecar({
    databaseUrl: db.url,
    tokens,
    env: { SIDECAR_HAPROXY_SOCKET: '/nonexistent/jsm/admin.sock', DOCKER_HOST: 'unix:///nonexistent/jsm/docker.sock' },
  });
  bare = await startTestSidecar({ databaseUrl: db.url, tokens });
});

afterAll(async () => {
  await healthy?.stop();
  await broken?.stop();
  await bare?.stop();
  await haproxy?.stop();
  await db?.drop();
});

const get = (sc: InProcessSidecar, path: string, token?: string) =>
  fetch(`${sc.handle.httpUrl}${path}`, { headers: token ? { Authorization: `Bearer ${sc.secrets[token]}` } : {} });

describe('health and readiness', () => {
  it('/healthz answers while the process is up', async () => {
    const res = await get(healthy, '/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', instanceId: healthy.handle.instanceId });
  });

  it('/readyz reports PostgreSQL, HAProxy and Docker each as up', async () => {
    const res = await get(healthy, '/readyz');
    const body = (await res.json()) as { ready: boolean; checks: Record<string, { status: string; detail: string }> };
    expect(res.status).toBe(200);
    expect(body.ready).toBe(true);
    expect(body.checks.postgres!.status).toBe('up');
    expect(body.checks.haproxy).toMatchObject({ status: 'up' });
    expect(body.checks.haproxy!.detail).toMatch(/HAProxy 2\./);
    expect(body.checks.docker!.status).toBe('up');
  });

  it('/readyz answers 503 naming each dependency that is down', async () => {
    const res = await get(broken, '/readyz');
    const body = (await res.json()) as { ready: boolean; message: string; checks: Record<string, { status: string; detail: string }> };
    expect(res.status).toBe(503);
    expect(body.checks.postgres!.status).toBe('up');
    expect(body.checks.haproxy).toMatchObject({ status: 'down' });
    expect(body.checks.docker).toMatchObject({ status: 'down' });
    expect(body.message).toMatch(/^not ready: haproxy is down \(HAProxy Runtime API at \/nonexistent\/jsm\/admin.sock: .*ENOENT.*\); docker is down \(Docker at unix:\/\/\/nonexistent/);
  });

  it('/readyz says plainly when HAProxy is not configured', async () => {
    const res = await get(bare, '/readyz');
    const body = (await res.json()) as { ready: boolean; message: string; checks: Record<string, { status: string; detail: string }> };
    expect(res.status).toBe(200);
    expect(body.checks.haproxy).toEqual({ status: 'not_configured', detail: 'SIDECAR_HAPROXY_SOCKET is not set' });
    expect(body.message).toBe('ready; not configured: haproxy');
  });

  it('a sidecar with a dependency down heartbeats a lower health score', async () => {
    const live = await healthy.handle.store.participants.live(60);
    const score = (id: string) => live.find((p) => p.instanceId === id)?.healthScore;
    expect(score(healthy.handle.instanceId)).toBe(100);
    expect(score(broken.handle.instanceId)).toBe(20);
  });
});

describe('/metrics', () => {
  it('passes promtool check metrics and carries the sidecar families after traffic', async () => {
    const c = await RpcConnection.open(healthy.handle.rpcUrl, healthy.secrets.ops!);
    await c.call('lock.acquire', { team: 'devops', operation: 'metrics_probe', ttlSec: 30 });
    await c.call('lock.release', { team: 'devops', operation: 'metrics_probe' });
    await c.call('consensus.request', { team: 'devops', operation: 'metrics_probe', timeoutSec: 10 });
    await c.close();
    const res = await get(healthy, '/metrics');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect({ status: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({ status: 0, output: '' });
    for (const family of ['sidecar_rpc_requests_total', 'sidecar_lock_wait_seconds', 'sidecar_consensus_duration_seconds', 'sidecar_operations_total', 'sidecar_breaker_state', 'sidecar_rpc_request_duration_seconds']) {
      expect(text).toContain(`# TYPE ${family} `);
    }
    expect(text).toMatch(/sidecar_operations_total\{type="consensus.request",result="succeeded",team="devops",instance_id="[^"]+"\} 1/);
  });
});

describe('read API', () => {
  beforeAll(async () => {
    const c = await RpcConnection.open(healthy.handle.rpcUrl, healthy.secrets.ops!);
    await c.call('lock.acquire', { team: 'devops', operation: 'read_api', ttlSec: 60 });
    await c.call('lock.acquire', { team: 'payments', operation: 'read_api', ttlSec: 60 });
    await c.call('environment.status', { team: 'devops' });
    await c.call('environment.status', { team: 'payments' });
    await c.close();
  });

  it.each(['/api/v1/teams', '/api/v1/operations', '/api/v1/locks', '/api/v1/breakers', '/api/v1/audit'])('%s needs a bearer token', async (path) => {
    const res = await get(healthy, path);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'missing Authorization: Bearer <token> header (set SIDECAR_TOKEN)' } });
  });

  it('shows an ops token every team with its weights, a team token only its own', async () => {
    const all = (await (await get(healthy, '/api/v1/teams', 'ops')).json()) as { teams: Array<{ team: string; weights: unknown; active: string }> };
    expect(all.teams.map((t) => t.team)).toEqual(expect.arrayContaining(['devops', 'payments']));
    const mine = (await (await get(healthy, '/api/v1/teams', 'devops-ci')).json()) as { teams: Array<{ team: string; weights: unknown; active: string }> };
    expect(mine.teams).toEqual([expect.objectContaining({ team: 'devops', active: 'blue', weights: { blue: 100, green: 0 } })]);
  });

  it('filters locks and audit by what the token may see and refuses another team explicitly', async () => {
    const locks = (await (await get(healthy, '/api/v1/locks', 'devops-ci')).json()) as { locks: Array<{ lockName: string }> };
    expect(locks.locks.map((l) => l.lockName)).toEqual(['devops:read_api']);
    const audit = (await (await get(healthy, '/api/v1/audit?limit=50', 'devops-ci')).json()) as { audit: Array<{ team: string }> };
    expect(audit.audit.length).toBeGreaterThan(0);
    expect(audit.audit.every((e) => e.team === 'devops')).toBe(true);
    const other = await get(healthy, '/api/v1/audit?team=payments', 'devops-ci');
    expect(other.status).toBe(403);
    const bad = await get(healthy, '/api/v1/operations?limit=0', 'ops');
    expect(bad.status).toBe(400);
  });

  it('lists operations and breakers', async () => {
    const ops = (await (await get(healthy, '/api/v1/operations?team=devops', 'ops')).json()) as { operations: Array<{ type: string }> };
    expect(ops.operations.map((o) => o.type)).toContain('consensus.request');
    const breakers = await get(healthy, '/api/v1/breakers', 'ops');
    expect(breakers.status).toBe(200);
    expect(await breakers.json()).toHaveProperty('breakers');
  });

  it('serves the dashboard page at /', async () => {
    const res = await get(healthy, '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });
});

import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../agent/src/store/embedded-postgres';
import { PgAuditLog } from '../../agent/src/store/pg-audit';
import type { AuditEntry } from '../../agent/src/store/contract';
import { freeTeamPorts, startBackend, type Backend } from '../support/backends';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { testTeam } from '../support/haproxy-teams';
import { httpGet, RpcClient } from '../support/sidecar-process-rpc';
import { runSidecarctl, startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import type { Team } from '../../catalog/teams-file';
import { eventually } from '../support/eventually';

/**
 * Risk 3, the stop button: rollback.emergency while the coordination database
 * is down, against real processes (its own embedded PostgreSQL stopped and
 * started on the same port and data, a real HAProxy, a jenkins-sidecar
 * process). Asserted: the call answers success with recordsDeferred and a
 * locally made operationId while Postgres is still down, HAProxy has all
 * traffic on the good side DURING the outage, the call is logged with its
 * actor; once the database is back the owed records land in order without a
 * restart (operation succeeded, audit row with reason and actor, environment
 * active blue with weights blue 100, traffic in sync) and the reconcile loop
 * never put the old weights back. Second case: a switch in flight in the same
 * process is halted by it (no target given: the last known good side this
 * sidecar last read), and `sidecarctl emergency-stop` prints the deferred note.
 */
jest.setTimeout(60_000);

let dir: string;
let pg: EmbeddedPostgresHandle | null = null;
let pgPort: number;
let team: Team;
let hap: HaproxyProcess;
const backends: Backend[] = [];
let sc: SidecarProcess;
const INSTANCE = `r3e-${Math.random().toString(16).slice(2, 8)}`;
const teamsYamlOf = (t: Team) => `jenkins_teams:\n  - team_name: ${t.team_name}\n    web_port: ${t.web_port}\n    agent_port: ${t.agent_port}\n`;
let c: RpcClient;
const SECRET = `ops-${Math.random().toString(16).slice(2)}-secret-token`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jsm-risk3e-'));
  chmodSync(dir, 0o711);
  pgPort = await freePort();
  pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: pgPort });
  team = testTeam({ prefix: 'r3e', ...(await freeTeamPorts()) });
  backends.push(await startBackend(team.environments.blue.web_port, 'blue'), await startBackend(team.environments.green.web_port, 'green'));
  hap = await startHaproxy([team]);
  sc = await startOurSidecar();
  c = await RpcClient.connect(sc.rpcUrl, SECRET);
});

/** This test's sidecar; `dir` reuses a dead one's data dir (its owed-writes spool) as a restart does. */
function startOurSidecar(dir?: string): Promise<SidecarProcess> {
  return startSidecarProcess({
    databaseUrl: pg!.url,
    instanceId: INSTANCE,
    tokens: [{ id: 'ops', teams: ['*'], secret: SECRET }],
    teamsYaml: teamsYamlOf(team),
    env: { SIDECAR_HAPROXY_SOCKET: hap.socketPath, SIDECAR_HEARTBEAT_SEC: '1' },
    ...(dir ? { dir } : {}),
  });
}

afterAll(async () => {
  await c?.close();
  await sc?.stop().catch(() => undefined);
  await hap?.stop();
  await Promise.all(backends.map((b) => b.close()));
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});


async function haproxyWeights(): Promise<{ blue: number; green: number }> {
  const stats = await hap.runtime.showStat();
  const w = (server: string) => stats.find((s) => s.backend === team.haproxy_backend && s.server === server)?.weight ?? -1;
  return { blue: w(team.environments.blue.server), green: w(team.environments.green.server) };
}

async function stopPostgres(): Promise<void> {
  await pg!.stop();
  pg = null;
}

async function startPostgresAgain(): Promise<void> {
  pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: pgPort });
  await eventually('/readyz ready again', async () => ((await httpGet(`${sc.httpUrl}/readyz`)).status === 200 ? true : null), 20_000);
}

/** Reads the audit trail straight from the database (the sidecar's own writes are what is under test). */
async function emergencyAudit(operationId: string): Promise<AuditEntry | null> {
  const pool = new Pool({ connectionString: pg!.url, max: 1 });
  try {
    const rows = await new PgAuditLog(pool).list({ team: team.team_name, operationType: 'rollback.emergency', limit: 20 });
    // The stop's own row; the call's (the dispatcher's SUCCESS/FAILURE) names the operation too.
    return rows.find((r) => r.operationId === operationId && r.status !== 'SUCCESS' && r.status !== 'FAILURE') ?? null;
  } finally {
    await pool.end();
  }
}

async function lockToken(): Promise<number> {
  const lock = await c.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 120, owner: 'r3e/switch#1' });
  expect(lock.error).toBeUndefined();
  return (lock.result as { token: number }).token;
}

async function releaseLock(token: number): Promise<void> {
  const r = await eventually('lock released', async () => {
    const m = await c.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token });
    return m.error ? null : m;
  }, 15_000);
  expect(r.result).toEqual({ released: true });
}

/** After the outage: the owed records landed, Postgres and HAProxy agree on blue, and the reconcile loop kept the safety move. */
async function expectRecordsWritten(operationId: string): Promise<void> {
  const op = await eventually('the emergency operation row is written and ended', async () => {
    const r = await c.call('operation.get', { operationId });
    const rec = r.result as { status: string; type: string; steps: Array<{ name: string; outcome: string }> } | undefined;
    return rec && rec.status !== 'running' ? rec : null;
  }, 25_000);
  expect(op).toMatchObject({ status: 'succeeded', type: 'rollback.emergency' });
  expect(op.steps).toEqual([expect.objectContaining({ name: 'emergency-weights', outcome: 'done' })]);
  const audit = await eventually('the audit row is written', () => emergencyAudit(operationId), 15_000);
  expect(audit).toMatchObject({ status: 'completed', targetEnvironment: 'blue', actor: { tokenId: 'ops', instanceId: INSTANCE } });
  expect(audit.metadata).toMatchObject({ recordsDeferred: true, weights: { blue: 100, green: 0 } });
  const env = await eventually('environment_state promoted to blue', async () => {
    const r = (await c.call('environment.status', { team: team.team_name })).result as { active: string; weights: { blue: number; green: number } } | undefined;
    return r && r.active === 'blue' && r.weights.blue === 100 ? r : null;
  }, 10_000);
  expect(env).toMatchObject({ active: 'blue', weights: { blue: 100, green: 0 } });
  // Two reconcile periods later HAProxy still holds the safety move.
  await sleep(4_500);
  expect(await haproxyWeights()).toEqual({ blue: 100, green: 0 });
  expect((await c.call('traffic.status', { team: team.team_name })).result).toMatchObject({ inSync: true });
  expect(sc.log()).not.toContain('re-applied desired HAProxy weights');
}

it('with Postgres down, rollback.emergency to blue answers success at once, HAProxy has all traffic on blue during the outage, and the operation, journal step, promote and audit row follow once the database is back', async () => {
  // Traffic on green at 100 after a switch.
  const token = await lockToken();
  const sw = await c.call('traffic.switch', { team: team.team_name, target: 'green', increments: [100], validationSec: 1, minSamples: 0, drainTimeoutSec: 1, sampleIntervalMs: 200, lockToken: token }, 40_000);
  expect(sw.error).toBeUndefined();
  expect(sw.result).toMatchObject({ status: 'promoted', to: 'green' });
  expect(await haproxyWeights()).toEqual({ blue: 0, green: 100 });
  await releaseLock(token);

  await stopPostgres();
  const reason = 'green failing in production';
  // Bounded by the call's own timeout: the stop button must not wait for the database.
  const answer = await c.call('rollback.emergency', { team: team.team_name, reason, target: 'blue' }, 15_000);
  expect(answer.error).toBeUndefined();
  const result = answer.result as { operationId: string; active: string; recordsDeferred: boolean; weights: unknown };
  expect(result).toMatchObject({ active: 'blue', weights: { blue: 100, green: 0 }, recordsDeferred: true, halted: null });
  expect(result.operationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  // All traffic on blue while Postgres is still down (the sidecar confirms it cannot read the journal).
  expect(await haproxyWeights()).toEqual({ blue: 100, green: 0 });
  await eventually('/readyz reports PostgreSQL down', async () => ((await httpGet(`${sc.httpUrl}/readyz`)).status === 503 ? true : null), 10_000);
  expect((await c.call('operation.get', { operationId: result.operationId })).error?.data?.code).toBe('DEPENDENCY_DOWN');
  // Logged with the actor before any audit row could be written.
  const logged = sc.log().split('\n').find((l) => l.includes('rollback.emergency requested') && l.includes(result.operationId));
  expect(logged).toContain('"tokenId":"ops"');
  expect(logged).toContain(reason);
  // A while into the outage the reconcile loop has not put green back.
  await sleep(4_500);
  expect(await haproxyWeights()).toEqual({ blue: 100, green: 0 });

  await startPostgresAgain();
  await expectRecordsWritten(result.operationId);
  const audit = await emergencyAudit(result.operationId);
  expect(audit?.rollbackReason).toBe(reason);
  expect(audit?.sourceEnvironment).toBe('green');
});

it('with Postgres down, rollback.emergency without a target halts the switch in flight in this process and puts all traffic on the last known good side; sidecarctl emergency-stop prints the deferred note', async () => {
  const token = await lockToken();
  // Long sample interval: the switch touches Postgres only every 10 s, so it is the emergency that stops it.
  const switchP = c.call('traffic.switch', { team: team.team_name, target: 'green', increments: [50, 100], validationSec: 60, minSamples: 0, drainTimeoutSec: 1, sampleIntervalMs: 10_000, lockToken: token }, 45_000);
  const step = await eventually('step-50 applied', async () => c.notifications.find((n) => n.params?.phase === 'step-50' && n.params?.weights) ?? null, 20_000);
  const switchId = String(step.params?.operationId);
  const half = await haproxyWeights();
  expect(half.blue).toBeGreaterThan(0);
  expect(half.green).toBeGreaterThan(0);

  await stopPostgres();
  const ctl = await runSidecarctl(['emergency-stop', '--team', team.team_name, '--reason', 'operator pressed stop during the outage'], { SIDECAR_URL: sc.rpcUrl, SIDECAR_TOKEN: SECRET }, 20_000);
  expect(ctl.code).toBe(0);
  const result = JSON.parse(ctl.stdout) as { operationId: string; active: string; halted: string | null; recordsDeferred: boolean };
  expect(result).toMatchObject({ active: 'blue', halted: switchId, recordsDeferred: true });
  expect(ctl.stderr).toContain('PostgreSQL was unreachable');
  expect(ctl.stderr).toContain(result.operationId);
  expect(await haproxyWeights()).toEqual({ blue: 100, green: 0 });
  const halted = await switchP;
  expect(halted.error?.data).toMatchObject({ code: 'CONFLICT', reason: 'halted' });
  expect(halted.error?.message).toContain('halted');
  // The halted switch does not move anything afterwards.
  await sleep(3_000);
  expect(await haproxyWeights()).toEqual({ blue: 100, green: 0 });

  await startPostgresAgain();
  await expectRecordsWritten(result.operationId);
  const sw = await eventually('the halted switch ended aborted', async () => {
    const r = (await c.call('operation.get', { operationId: switchId })).result as { status: string } | undefined;
    return r && r.status !== 'running' ? r : null;
  }, 20_000);
  expect(sw.status).toBe('aborted');
  await releaseLock(token);
});

it('killed during the outage, the sidecar that starts again writes what the dead one owed (kept on disk), before recovery reads the journal', async () => {
  await stopPostgres();
  const ctl = await runSidecarctl(['emergency-stop', '--team', team.team_name, '--target', 'green', '--reason', 'operator moved traffic, then the host rebooted'], { SIDECAR_URL: sc.rpcUrl, SIDECAR_TOKEN: SECRET }, 20_000);
  expect(ctl.code).toBe(0);
  const result = JSON.parse(ctl.stdout) as { operationId: string; active: string; recordsDeferred: boolean };
  expect(result).toMatchObject({ active: 'green', recordsDeferred: true });
  expect(await haproxyWeights()).toEqual({ blue: 0, green: 100 });

  // The host goes down with the records still owed: only the spool in the data dir has them.
  const sidecarDir = sc.dir;
  await c.close();
  await sc.kill();
  expect(readFileSync(join(sc.dataDir, 'owed-writes.jsonl'), 'utf8')).toContain(result.operationId);

  pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: pgPort });
  sc = await startOurSidecar(sidecarDir);
  c = await RpcClient.connect(sc.rpcUrl, SECRET);
  expect(sc.log()).toContain('writing records a previous run of this sidecar owed');

  const op = await eventually('the emergency operation row is written and ended', async () => {
    const rec = (await c.call('operation.get', { operationId: result.operationId })).result as { status: string; steps: Array<{ name: string; outcome: string }> } | undefined;
    return rec && rec.status !== 'running' ? rec : null;
  }, 20_000);
  expect(op.status).toBe('succeeded');
  expect(op.steps).toEqual([expect.objectContaining({ name: 'emergency-weights', outcome: 'done' })]);
  const audit = await eventually('the audit row is written once', () => emergencyAudit(result.operationId), 15_000);
  expect(audit).toMatchObject({ status: 'completed', targetEnvironment: 'green', rollbackReason: 'operator moved traffic, then the host rebooted', metadata: expect.objectContaining({ recordsDeferred: true }) });
  const env = (await c.call('environment.status', { team: team.team_name })).result as { active: string; weights: { blue: number; green: number } };
  expect(env).toMatchObject({ active: 'green', weights: { blue: 0, green: 100 } });
  expect(await haproxyWeights()).toEqual({ blue: 0, green: 100 });
  expect(readFileSync(join(sc.dataDir, 'owed-writes.jsonl'), 'utf8')).toBe('');
});

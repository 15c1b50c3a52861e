import type { Team } from '../../catalog/teams-file';
import { freeTeamPorts, startBackend, type Backend } from '../support/backends';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { eventually } from '../support/eventually';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { startLoad, type LoadRun } from '../support/haproxy-load';
import { testTeam } from '../support/haproxy-teams';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { RpcClient, type RpcMessage } from '../support/sidecar-process-rpc';

/**
 * Approval gates end to end: a jenkins-sidecar process, real HAProxy, real
 * backends on 127.0.0.1 under load, PostgreSQL. A switch started with
 * approvalAt: [50] stops before its 50% step: HAProxy and the desired weights
 * stay at 25% for longer than a window, the progress says awaiting_approval
 * and how to approve, the journal and environment.status show the gate; then
 * traffic.resume lets it promote, traffic.abort at the gate rolls it back, and
 * a breach of the held 25% traffic while waiting rolls it back too.
 */
jest.setTimeout(120_000);

let db: TestDatabase;
let hap: HaproxyProcess;
let team: Team;
let blue: Backend;
let green: Backend;
let sc: SidecarProcess;
let c: RpcClient;
const WINDOW_SEC = 1;

const teamsYamlOf = (t: Team) => `jenkins_teams:\n  - team_name: ${t.team_name}\n    web_port: ${t.web_port}\n    agent_port: ${t.agent_port}\n`;

beforeAll(async () => {
  db = await createTestDatabase('gates');
  team = testTeam({ prefix: 'gt', ...(await freeTeamPorts()) });
  blue = await startBackend(team.environments.blue.web_port, 'blue');
  green = await startBackend(team.environments.green.web_port, 'green');
  hap = await startHaproxy([team]);
  sc = await startSidecarProcess({ databaseUrl: db.url, tokens: [{ id: 'ci', teams: [team.team_name] }], teamsYaml: teamsYamlOf(team), env: { SIDECAR_HAPROXY_SOCKET: hap.socketPath } });
  c = await RpcClient.connect(sc.rpcUrl, sc.secrets['ci']!);
});

afterAll(async () => {
  await c?.close();
  await sc?.stop();
  await hap?.stop();
  await blue?.close();
  await green?.close();
  await db?.drop();
});

async function result<T>(method: string, params: Record<string, unknown>): Promise<T> {
  const m = await c.call(method, params);
  if (m.error) throw new Error(`${method}: ${JSON.stringify(m.error)}`);
  return m.result as T;
}

async function liveWeights(): Promise<{ blue: number; green: number }> {
  const stats = (await hap.runtime.showStat()).filter((s) => s.backend === team.haproxy_backend);
  return { blue: stats.find((s) => s.server === team.environments.blue.server)!.weight, green: stats.find((s) => s.server === team.environments.green.server)!.weight };
}

interface Progress {
  operationId: string;
  phase: string;
  message: string;
  step?: number;
  gate?: number;
  weights?: { blue: number; green: number };
  approve?: { rpc: string; params: Record<string, unknown> };
}

const progressOf = (m: RpcMessage): Progress => m.params as unknown as Progress;

/** Starts a gated switch to `target` (it answers only when the switch ends) and waits for its gate. */
async function switchToGate(target: 'blue' | 'green', extra: Record<string, unknown> = {}): Promise<{ answer: Promise<RpcMessage>; gate: Progress; token: number }> {
  const lock = await result<{ token: number }>('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 300 });
  const seen = c.notifications.length;
  const answer = c.call(
    'traffic.switch',
    { team: team.team_name, target, lockToken: lock.token, increments: [10, 25, 50, 100], approvalAt: [50], validationSec: WINDOW_SEC, sampleIntervalMs: 200, minSamples: 5, drainTimeoutSec: 1, ...extra },
    100_000,
  );
  const gate = await eventually(
    'the switch waits at its approval gate',
    async () => c.notifications.slice(seen).map(progressOf).find((p) => p.phase === 'awaiting_approval') ?? null,
    60_000,
  );
  return { answer, gate, token: lock.token };
}

async function release(token: number): Promise<void> {
  await result('lock.release', { team: team.team_name, operation: 'blue_green_switch', token });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a switch with approvalAt: [50]', () => {
  let load: LoadRun;
  beforeEach(() => {
    load = startLoad(hap.httpPort, { connections: 4, maxSeconds: 90 });
  });
  afterEach(async () => {
    const totals = await load.stop();
    expect(totals.requests).toBeGreaterThan(0);
  });

  it('holds at 25% before its 50% step for longer than a window, shows the gate, and promotes after traffic.resume', async () => {
    const { answer, gate, token } = await switchToGate('green');
    expect(gate).toMatchObject({ step: 50, gate: 50, weights: { blue: 75, green: 25 }, approve: { rpc: 'traffic.resume', params: { team: team.team_name, operationId: gate.operationId } } });
    expect(gate.message).toMatch(/sidecarctl call traffic\.resume --params/);
    // Three windows' time later nothing moved: HAProxy and the desired weights still at 25%.
    await sleep(3 * WINDOW_SEC * 1000);
    expect(await liveWeights()).toEqual({ blue: 75, green: 25 });
    const status = await result<{ weights: { blue: number; green: number }; operation: { id: string; phase: string } | null }>('environment.status', { team: team.team_name });
    expect(status).toMatchObject({ weights: { blue: 75, green: 25 }, operation: { id: gate.operationId, phase: 'awaiting_approval' } });
    const op = await result<{ steps: Array<{ name: string; intent: Record<string, unknown> }> }>('operation.get', { operationId: gate.operationId });
    expect(op.steps.filter((s) => s.name === 'control').map((s) => s.intent)).toEqual([expect.objectContaining({ verb: 'pause', by: 'approval gate', gate: 50, reason: 'waiting for approval before the 50% step' })]);
    // The 50% step has not been taken.
    expect(op.steps.filter((s) => s.name === 'weights').map((s) => (s.intent as { step: number }).step)).toEqual([10, 25]);

    const resumed = await result<{ state: string; taken: boolean; command: string }>('traffic.resume', { team: team.team_name, operationId: gate.operationId, reason: 'looks good at 25%' });
    expect(resumed).toMatchObject({ command: 'resume', state: 'running' });
    const done = await answer;
    expect(done.error).toBeUndefined();
    const r = done.result as { status: string; steps: Array<{ percent: number; verdict: string }> };
    expect(r.status).toBe('promoted');
    expect(r.steps.map((s) => [s.percent, s.verdict])).toEqual([
      [10, 'pass'],
      [25, 'pass'],
      [50, 'pass'],
      [100, 'pass'],
    ]);
    expect(await liveWeights()).toEqual({ blue: 0, green: 100 });
    const after = await result<{ steps: Array<{ name: string; intent: Record<string, unknown> }> }>('operation.get', { operationId: gate.operationId });
    expect(after.steps.filter((s) => s.name === 'control').map((s) => s.intent.verb)).toEqual(['pause', 'resume']);
    await release(token);
  });

  it('rolls back when aborted at the gate', async () => {
    const { answer, gate, token } = await switchToGate('blue');
    expect(gate.weights).toEqual({ blue: 25, green: 75 });
    const aborted = await result<{ command: string; state: string }>('traffic.abort', { team: team.team_name, operationId: gate.operationId, reason: 'not today' });
    expect(aborted).toMatchObject({ command: 'abort', state: 'abort-requested' });
    const done = await answer;
    expect(done.error?.data).toMatchObject({ code: 'CONFLICT', reason: 'aborted', active: 'green', step: 50 });
    expect(await liveWeights()).toEqual({ blue: 0, green: 100 });
    const op = await result<{ status: string }>('operation.get', { operationId: gate.operationId });
    expect(op.status).toBe('rolled_back');
    await release(token);
  });

  it('rolls back when the held traffic breaches while it waits at the gate', async () => {
    const { answer, gate, token } = await switchToGate('blue');
    blue.set({ errorRate: 0.5 });
    try {
      const done = await answer;
      expect(done.error?.data).toMatchObject({ code: 'SLI_BREACH', active: 'green', step: 25 });
      expect(done.error?.message).toMatch(/while waiting at the approval gate of the 50% step/);
    } finally {
      blue.set({ errorRate: 0 });
    }
    expect(await liveWeights()).toEqual({ blue: 0, green: 100 });
    const op = await result<{ status: string; id: string }>('operation.get', { operationId: gate.operationId });
    expect(op.status).toBe('rolled_back');
    await release(token);
  });
});

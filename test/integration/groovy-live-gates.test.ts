import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Team } from '../../catalog/teams-file';
import { freeTeamPorts, startBackend, type Backend } from '../support/backends';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { eventually } from '../support/eventually';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { startLoad, type LoadRun } from '../support/haproxy-load';
import { testTeam } from '../support/haproxy-teams';
import { runSidecarctl, SIDECARCTL_BIN, startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { RpcClient } from '../support/sidecar-process-rpc';
import { answerInput, generate, pendingInputs, refusedAnswer, startScenarios, type RunningScenarios, type Scenario } from '../groovy/harness-runner';

/**
 * Approval gates from the pipeline's side, live: the generated
 * progressiveTrafficSwitch(approvalAt: [50]) runs in the Groovy 2.4 harness,
 * every call through sidecarctl to a jenkins-sidecar process, real HAProxy and
 * PostgreSQL, backends on 127.0.0.1 under load. At the gate the build shows an
 * input prompt; the test answers it through the harness's stand-in for the
 * InputAction REST (proceedEmpty as an approver) and the switch promotes. Then a
 * second build is killed (kill -9 of the JVM and everything it started) while
 * its switch waits at the gate: the switch keeps waiting, and
 * `sidecarctl call traffic.resume` lets it promote without any build. A third
 * build's gate refuses a Proceed by a non-approver and, on Abort, rolls back.
 */
jest.setTimeout(300_000);
const root = mkdtempSync(join(tmpdir(), 'jsm-groovy-live-gates-'));
let db: TestDatabase;
let team: Team;
let hap: HaproxyProcess;
let blue: Backend;
let green: Backend;
let sc: SidecarProcess;
let rpc: RpcClient;
let load: LoadRun | undefined;
let sidecarctl: string;
let teamsYaml: string;
const running: RunningScenarios[] = [];

beforeAll(async () => {
  team = testTeam({ prefix: 'lg', ...(await freeTeamPorts()) });
  teamsYaml = ['jenkins_teams:', `  - team_name: ${team.team_name}`, '    active_environment: blue', '    self_management_enabled: true', `    web_port: ${team.web_port}`, `    agent_port: ${team.agent_port}`, ''].join('\n');
  db = await createTestDatabase('livegates');
  blue = await startBackend(team.environments.blue.web_port, 'blue');
  green = await startBackend(team.environments.green.web_port, 'green');
  hap = await startHaproxy([team]);
  sc = await startSidecarProcess({ databaseUrl: db.url, tokens: [{ id: 'ci', teams: [team.team_name] }], teamsYaml, env: { SIDECAR_HAPROXY_SOCKET: hap.socketPath } });
  rpc = await RpcClient.connect(sc.rpcUrl, sc.secrets['ci']!);
  generate(teamsYaml, join(root, 'out'));
  sidecarctl = join(root, 'sidecarctl');
  writeFileSync(sidecarctl, `#!/bin/sh\nexec "${process.execPath}" "${SIDECARCTL_BIN}" "$@"\n`);
  chmodSync(sidecarctl, 0o755);
  // Enough that 10 % of it fills a 1 s window's minSamples on a loaded machine.
  load = startLoad(hap.httpPort, { connections: 4, rate: 60, maxSeconds: 280, path: '/login' });
}, 120_000);

afterAll(async () => {
  for (const r of running) await r.kill();
  await load?.stop().catch(() => undefined);
  await rpc?.close();
  await sc?.stop();
  await hap?.stop();
  await blue?.close();
  await green?.close();
  await db?.drop();
  rmSync(root, { recursive: true, force: true });
});

async function result<T>(method: string, params: Record<string, unknown>): Promise<T> {
  const m = await rpc.call(method, params);
  if (m.error) throw new Error(`${method}: ${JSON.stringify(m.error)}`);
  return m.result as T;
}

async function liveWeights(): Promise<{ blue: number; green: number }> {
  const stats = (await hap.runtime.showStat()).filter((s) => s.backend === team.haproxy_backend);
  return { blue: stats.find((s) => s.server === team.environments.blue.server)!.weight, green: stats.find((s) => s.server === team.environments.green.server)!.weight };
}

/** One build that takes the lock and switches to `target` with a gate at 50 %. */
function gatedBuild(name: string, buildNumber: string, target: 'blue' | 'green'): Scenario {
  return {
    name,
    team: team.team_name,
    script: [
      "acquireInfrastructureLock(operation: 'blue_green_switch')",
      `def r = progressiveTrafficSwitch(target: '${target}', increments: [10, 25, 50, 100], approvalAt: [50], validationTime: 1, minSamples: 2, approvers: 'alice')`,
      'echo "switch ended ${r.status}"',
      "releaseInfrastructureLock(operation: 'blue_green_switch')",
    ].join('\n'),
    env: {
      JOB_NAME: `${team.team_name}/Infrastructure/Self-Managed-Blue-Green-Switch`,
      BUILD_NUMBER: buildNumber,
      JENKINS_URL: `http://127.0.0.1:${hap.httpPort}/`,
      SIDECARCTL: sidecarctl,
      SIDECAR_URL: sc.rpcUrl,
      PATH: process.env.PATH ?? '/usr/bin:/bin',
    },
    credentials: { 'sidecar-token': sc.secrets['ci']! },
    build: { inputDir: join(root, `input-${buildNumber}`) },
  };
}

/** The build's prompt at the 50 % gate; a build that ended before it fails the wait at once, with its console. */
async function waitForGatePrompt(buildNumber: string, build: RunningScenarios) {
  let ended: string | null = null;
  void build.done.then(
    (rs) => (ended = `build ${buildNumber} ended ${rs[0]?.result} before its gate: ${rs[0]?.error}\n${rs[0]?.console.join('\n')}`),
    (err: Error) => (ended = err.message),
  );
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
    if (ended) throw new Error(ended);
    const prompt = pendingInputs(join(root, `input-${buildNumber}`)).find((p) => p.id === 'Gate50');
    if (prompt) return prompt;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`build ${buildNumber} showed no input at its 50% gate within 120 s`);
}

interface Op {
  id: string;
  status: string;
  phase: string;
  steps: Array<{ name: string; intent: Record<string, unknown> }>;
}

describe('progressiveTrafficSwitch(approvalAt: [50]) in the harness against a live sidecar', () => {
  it('shows an input prompt at the gate with the weights held at 25%; Proceed by an approver lets the switch promote', async () => {
    const build = await startScenarios(join(root, 'out', 'library'), [gatedBuild('approved', '1', 'green')], join(root, 'work-1'));
    running.push(build);
    const prompt = await waitForGatePrompt('1', build);
    expect(prompt).toMatchObject({ id: 'Gate50', ok: 'Move to 50%', submitter: 'alice' });
    expect(prompt.message).toContain('move to 50%?');
    expect(await liveWeights()).toEqual({ blue: 75, green: 25 });
    answerInput(join(root, 'input-1'), 'Gate50', 'proceedEmpty', 'alice');
    const [r] = await build.done;
    expect(r!.result).toBe('SUCCESS');
    expect(r!.console).toEqual(expect.arrayContaining(['Approved by alice', 'switch ended promoted']));
    expect(await liveWeights()).toEqual({ blue: 0, green: 100 });
    const status = await result<{ active: string; buildSwitch: { operationId: string } | null }>('environment.status', { team: team.team_name, build: `${team.team_name}/Infrastructure/Self-Managed-Blue-Green-Switch#1` });
    expect(status.active).toBe('green');
    const op = await result<Op>('operation.get', { operationId: status.buildSwitch!.operationId });
    expect(op.status).toBe('succeeded');
    expect(op.steps.filter((s) => s.name === 'control').map((s) => s.intent)).toEqual([
      expect.objectContaining({ verb: 'pause', by: 'approval gate', gate: 50 }),
      expect.objectContaining({ verb: 'resume', by: `${team.team_name}/Infrastructure/Self-Managed-Blue-Green-Switch#1`, reason: 'approved at the 50% gate by alice' }),
    ]);
  });

  it('keeps waiting at the gate when the build is killed; sidecarctl call traffic.resume then lets it promote', async () => {
    const build = await startScenarios(join(root, 'out', 'library'), [gatedBuild('killed', '2', 'blue')], join(root, 'work-2'));
    running.push(build);
    await waitForGatePrompt('2', build);
    await build.kill();
    const buildId = `${team.team_name}/Infrastructure/Self-Managed-Blue-Green-Switch#2`;
    const status = await result<{ weights: { blue: number; green: number }; operation: { id: string; phase: string } | null; buildSwitch: { operationId: string } | null }>('environment.status', { team: team.team_name, build: buildId });
    const opId = status.buildSwitch!.operationId;
    expect(status).toMatchObject({ weights: { blue: 25, green: 75 }, operation: { id: opId, phase: 'awaiting_approval' } });
    // The build is gone; the operation goes on, still at the gate.
    expect(await liveWeights()).toEqual({ blue: 25, green: 75 });
    expect((await result<Op>('operation.get', { operationId: opId })).status).toBe('running');

    const ctl = await runSidecarctl(['call', 'traffic.resume', '--params', JSON.stringify({ team: team.team_name, operationId: opId, reason: 'build died; approved by on-call' })], { SIDECAR_URL: sc.rpcUrl, SIDECAR_TOKEN: sc.secrets['ci']! });
    expect(ctl.code).toBe(0);
    expect(JSON.parse(ctl.stdout)).toMatchObject({ command: 'resume', operationId: opId });
    const done = await eventually(
      'the switch promotes without its build',
      async () => {
        const op = await result<Op>('operation.get', { operationId: opId });
        return op.status === 'running' ? null : op;
      },
      120_000,
    );
    expect(done.status).toBe('succeeded');
    expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
    expect(done.steps.filter((s) => s.name === 'control').map((s) => s.intent.verb)).toEqual(['pause', 'resume']);
    // The dead build still holds its lock: an operator frees it, as after any lost build.
    expect(await result<{ released: boolean }>('lock.release', { team: team.team_name, operation: 'blue_green_switch', owner: buildId })).toEqual({ released: true });
  });

  it('refuses a Proceed by someone not among the approvers; Abort rolls the switch back and fails the step', async () => {
    const build = await startScenarios(join(root, 'out', 'library'), [gatedBuild('rejected', '3', 'green')], join(root, 'work-3'));
    running.push(build);
    await waitForGatePrompt('3', build);
    answerInput(join(root, 'input-3'), 'Gate50', 'proceedEmpty', 'mallory');
    const refused = await eventually('the harness refuses mallory as Jenkins does', async () => refusedAnswer(join(root, 'input-3'), 'Gate50'), 30_000);
    expect(refused).toBe('You need to be alice to submit this.');
    expect(await liveWeights()).toEqual({ blue: 75, green: 25 });
    answerInput(join(root, 'input-3'), 'Gate50', 'abort', 'bob');
    const [r] = await build.done;
    expect(r!.result).toBe('FAILURE');
    expect(r!.error).toMatch(/^progressiveTrafficSwitch: CONFLICT \(aborted\): .*rolled back, all traffic is on blue: .*rejected at the 50% gate by bob$/);
    expect(r!.console).toContain('Failed in branch traffic switch');
    expect(await liveWeights()).toEqual({ blue: 100, green: 0 });
    const status = await result<{ buildSwitch: { operationId: string } | null }>('environment.status', { team: team.team_name, build: `${team.team_name}/Infrastructure/Self-Managed-Blue-Green-Switch#3` });
    const op = await result<Op>('operation.get', { operationId: status.buildSwitch!.operationId });
    expect(op.status).toBe('rolled_back');
    expect(op.steps.filter((s) => s.name === 'control').map((s) => s.intent)).toEqual([
      expect.objectContaining({ verb: 'pause', gate: 50 }),
      expect.objectContaining({ verb: 'abort', hold: false, reason: 'rejected at the 50% gate by bob' }),
    ]);
  });
});

import type { EnvironmentName, Team } from '../../catalog/teams-file';
import { eventually } from '../support/eventually';
import type { RpcClient, RpcMessage } from '../support/sidecar-process-rpc';
import { runSidecarctl } from '../support/sidecar-process';
import { operationEnded, startTrafficStack, type TrafficStack } from '../support/traffic-stack';

jest.setTimeout(150_000);

/**
 * `sidecarctl pause | resume | promote | abort` as an on-call person types them, against a real
 * jenkins-sidecar process steering a real switch through haproxy. The windows are long (30 s)
 * so that a window never ends on its own before the command lands; the switch is moved on by
 * the commands themselves (promote --full ends the window), so no case waits a window out.
 */
let stack: TrafficStack;
let team: Team;
let client: RpcClient;
let env: Record<string, string>;

beforeAll(async () => {
  stack = await startTrafficStack({ prefix: 'dcli', sidecars: 1 });
  team = stack.team;
  client = stack.clients[0]!;
  env = { SIDECAR_URL: stack.sidecars[0]!.rpcUrl, SIDECAR_TOKEN: stack.secret };
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const ctl = (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => runSidecarctl(args, env, 60_000);

interface StartedSwitch {
  operationId: string;
  percent: number;
  answer: Promise<RpcMessage>;
  lockToken: number;
}

/** Starts a switch away from the active side and resolves once it has moved its first step (its window then runs 30 s). */
async function startSwitch(): Promise<StartedSwitch> {
  const active = ((await client.call('environment.status', { team: team.team_name })).result as { active: EnvironmentName }).active;
  const target: EnvironmentName = active === 'blue' ? 'green' : 'blue';
  const lock = await client.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 300, waitSec: 10 });
  expect(lock.error).toBeUndefined();
  const lockToken = (lock.result as { token: number }).token;
  const seen = client.notifications.length;
  const answer = client.call(
    'traffic.switch',
    { team: team.team_name, target, increments: [25, 50, 100], validationSec: 30, sampleIntervalMs: 200, minSamples: 0, drainTimeoutSec: 2, lockToken },
    140_000,
  );
  const step = await eventually(
    'the switch moved its first step',
    async () => client.notifications.slice(seen).find((n) => n.params?.phase === 'step-25') ?? null,
    40_000,
  );
  return { operationId: String(step.params?.operationId), percent: 25, answer, lockToken };
}

const phaseOf = async (operationId: string): Promise<string> => ((await client.call('operation.get', { operationId })).result as { phase: string }).phase;

describe('refusals', () => {
  it('a missing --reason is a usage error (exit 2) that says what to type, before anything is sent', async () => {
    const r = await ctl('pause', '--team', team.team_name);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--reason is required: say why you pause the switch (it goes into the audit trail)');
    expect(r.stdout).toBe('');
    const blank = await ctl('abort', '--team', team.team_name, '--reason', '   ');
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain('--reason is required');
  });

  it('with no running switch: the sidecar says so (exit 3) and the hint says nothing changed', async () => {
    const r = await ctl('resume', '--team', team.team_name, '--reason', 'looked fine');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`sidecarctl: NOT_FOUND: no switch of ${team.team_name} is running`);
    expect(r.stderr).toContain(`nothing was changed by this resume. See where the team's traffic and switch are with: sidecarctl status --team ${team.team_name}`);
  });
});

describe('a switch steered from the command line', () => {
  it('pause holds it (phase paused, weights kept), resume lets it go on, promote --full finishes it', async () => {
    const sw = await startSwitch();
    const paused = await ctl('pause', '--team', team.team_name, '--reason', 'errors on the 25% side', '--max-pause', '600');
    expect({ code: paused.code, stderr: paused.stderr }).toEqual({ code: 0, stderr: '' });
    expect(paused.stdout).toContain(`Paused: the switch of ${team.team_name} (operation ${sw.operationId}) at 25%`);
    expect(paused.stdout).toMatch(/State: paused since \S+ by ops; if nobody resumes it, it rolls back at \S+ \(max pause 600 s\)/);
    expect(paused.stdout).toContain(`resume with:     sidecarctl resume --team ${team.team_name} --reason "<why>"`);
    await eventually('the journal shows the switch paused', async () => ((await phaseOf(sw.operationId)) === 'paused' ? true : null), 20_000);
    // What the on-call person looks at next: the operation paused, and the team's status still answering.
    const op = await ctl('call', 'operation.get', '--params', JSON.stringify({ operationId: sw.operationId }));
    expect(op.code).toBe(0);
    expect(JSON.parse(op.stdout)).toMatchObject({ status: 'running', phase: 'paused' });
    const status = await ctl('status', '--team', team.team_name);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ weights: await stack.weights() });
    const held = await stack.weights();
    expect(held.blue + held.green).toBe(100);
    expect([held.blue, held.green]).toContain(25);

    // A pause asked twice is refused by the switch's control state, with what holds it.
    const again = await ctl('pause', '--team', team.team_name, '--reason', 'second pair of hands');
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/CONFLICT \(control_refused\): the switch of \S+ is already paused \(by ops since /);
    // A command naming another operation is refused and changes nothing.
    const wrong = await ctl('resume', '--team', team.team_name, '--reason', 'not this one', '--operation', 'op-not-the-running-one');
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('operation op-not-the-running-one is not the running switch');
    expect(await phaseOf(sw.operationId)).toBe('paused');

    const resumed = await ctl('resume', '--team', team.team_name, '--reason', 'errors were the load test', '--operation', sw.operationId, '--json');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ operationId: sw.operationId, command: 'resume', state: 'running', by: 'ops', reason: 'errors were the load test', percent: 25, pause: null });
    await eventually('the switch left paused', async () => ((await phaseOf(sw.operationId)) !== 'paused' ? true : null), 20_000);

    const promoted = await ctl('promote', '--team', team.team_name, '--reason', 'all green, go', '--full');
    expect(promoted.code).toBe(0);
    expect(promoted.stdout).toContain(`Promotion asked for: the switch of ${team.team_name} (operation ${sw.operationId})`);
    // The 100% step has its window too; a plain promote ends it as a pass (then the drain).
    await eventually('the switch is at 100%', async () => (client.notifications.some((n) => n.params?.operationId === sw.operationId && n.params?.phase === 'step-100') ? true : null), 30_000);
    const last = await ctl('promote', '--team', team.team_name, '--reason', 'clean at 100%');
    expect(last.code).toBe(0);
    expect(last.stdout).toContain('State: ');
    const done = await sw.answer;
    expect(done.error).toBeUndefined();
    expect((await operationEnded(client, sw.operationId)).status).toBe('succeeded');
    const after = await stack.weights();
    expect([after.blue, after.green].sort()).toEqual([0, 100]);
    await client.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token: sw.lockToken });
  });

  it('abort --hold on a second switch keeps its weights and ends it aborted; an emergency stop still works after it', async () => {
    const sw = await startSwitch();
    const before = await stack.weights();
    const r = await ctl('abort', '--team', team.team_name, '--reason', 'freeze here, investigating', '--hold');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Abort asked for: the switch of ${team.team_name} (operation ${sw.operationId}) at 25%`);
    expect(r.stdout).toContain(`if it goes wrong: sidecarctl emergency-stop --team ${team.team_name}`);
    const answer = await sw.answer;
    // The switch's own caller (the pipeline) hears why: CONFLICT (aborted) with the weights it kept.
    expect(answer.error?.data).toMatchObject({ code: 'CONFLICT', reason: 'aborted', weights: before });
    expect(answer.error?.message).toContain('aborted by ops: freeze here, investigating');
    expect((await operationEnded(client, sw.operationId)).status).toBe('aborted');
    expect(await stack.weights()).toEqual(before);
    // Nothing runs any more: a further command says so.
    const late = await ctl('resume', '--team', team.team_name, '--reason', 'too late');
    expect(late.code).toBe(3);
    expect(late.stderr).toContain('NOT_FOUND');
    await client.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token: sw.lockToken });
    // The split the hold left is ended the usual way: an emergency stop still puts everything on one side.
    const stop = await ctl('emergency-stop', '--team', team.team_name, '--reason', 'end the held split');
    expect(stop.code).toBe(0);
    const after = await stack.weights();
    expect([after.blue, after.green].sort()).toEqual([0, 100]);
  });
});

import { commandSwitch, type SwitchCommandDeps } from '../../agent/src/traffic/switch-commands';
import { SwitchControls } from '../../agent/src/traffic/switch-control';
import type { SwitchRun } from '../../agent/src/traffic/switch/switch-run';

/** A journal that keeps what it is told, and a sleep that lets the "run" reach a checkpoint. */
function setup(opts: { checkpointWhileWaiting: boolean; beforeFirstCheckpoint?: boolean; fenced?: boolean }) {
  const controls = new SwitchControls();
  const control = controls.attach('devops', 'op-7');
  const steps: { opId: string; name: string; intent: Record<string, unknown>; outcome?: string }[] = [];
  const run = { percent: 25, target: 'green', moved: true, lastApplied: { blue: 75, green: 25 }, checkFence: async () => {
      if (opts.fenced) throw Object.assign(new Error('lock devops:blue_green_switch is held by next-build with a newer token'), { code: 'FENCED' });
    }, ctx: { clock: { now: () => new Date('2026-12-02T06:00:01.000Z') } } } as unknown as SwitchRun;
  if (!opts.beforeFirstCheckpoint) control.checkpoint(run, 'window');
  const deps: SwitchCommandDeps = {
    controls,
    journal: {
      intent: async (opId, name, intent) => steps.push({ opId, name, intent }),
      outcome: async (_opId, seq, outcome) => void (steps[seq - 1]!.outcome = outcome),
      list: async () => [],
    },
    clock: { now: () => new Date('2026-12-02T06:00:00.000Z') },
    sleep: async () => {
      if (opts.checkpointWhileWaiting) control.checkpoint(run, 'window');
    },
    maxPauseSec: () => 900,
  };
  return { deps, steps, control };
}

it('a pause is applied, journaled in the switch operation with who and why, and answered with its end', async () => {
  const { deps, steps } = setup({ checkpointWhileWaiting: true });
  const a = await commandSwitch(deps, { team: 'devops', by: 'alice', reason: 'look at the logs first', input: { verb: 'pause' } });
  expect(a).toMatchObject({ operationId: 'op-7', command: 'pause', state: 'paused', taken: true, percent: 25, weights: { blue: 75, green: 25 } });
  expect(a.pause).toEqual({ since: '2026-12-02T06:00:00.000Z', by: 'alice', reason: 'look at the logs first', maxPauseSec: 900, endsAt: '2026-12-02T06:15:00.000Z' });
  expect(steps).toEqual([{ opId: 'op-7', name: 'control', intent: { verb: 'pause', by: 'alice', reason: 'look at the logs first', maxPauseSec: 900, at: '2026-12-02T06:00:00.000Z' }, outcome: 'done' }]);
});

it('says not taken when the run reached no checkpoint in time', async () => {
  const { deps } = setup({ checkpointWhileWaiting: false });
  const a = await commandSwitch(deps, { team: 'devops', by: 'alice', reason: 'wait', input: { verb: 'abort', hold: true } });
  expect(a).toMatchObject({ state: 'abort-requested', taken: false, pause: null });
});

it('refuses a command for another switch than the running one, and for a team with none, changing nothing', async () => {
  const { deps, steps } = setup({ checkpointWhileWaiting: true });
  await expect(commandSwitch(deps, { team: 'devops', operationId: 'op-6', by: 'a', reason: 'old tab', input: { verb: 'resume' } })).rejects.toThrow(/op-6 is not the running switch of devops \(that is op-7\)/);
  await expect(commandSwitch(deps, { team: 'other', by: 'a', reason: 'why', input: { verb: 'pause' } })).rejects.toThrow(/no switch of other is running \(traffic.status says where traffic is\); nothing was changed/);
  expect(steps).toEqual([]);
  expect(deps.controls.get('devops')?.state).toEqual({ kind: 'running' });
});

it('a command before the run reached its first checkpoint still applies (there is no run to fence yet); one after the lock moved is FENCED, changing nothing', async () => {
  const early = setup({ checkpointWhileWaiting: false, beforeFirstCheckpoint: true, fenced: true });
  const a = await commandSwitch(early.deps, { team: 'devops', by: 'alice', reason: 'not yet', input: { verb: 'pause' } });
  expect(a).toMatchObject({ state: 'paused', percent: null, weights: null, taken: false });
  const late = setup({ checkpointWhileWaiting: true, fenced: true });
  await expect(commandSwitch(late.deps, { team: 'devops', by: 'alice', reason: 'stale', input: { verb: 'pause' } })).rejects.toMatchObject({ code: 'FENCED' });
  expect(late.steps).toEqual([]);
  expect(late.deps.controls.get('devops')?.state).toEqual({ kind: 'running' });
});

it('a command the state refuses (resume while running) leaves no journal step', async () => {
  const { deps, steps } = setup({ checkpointWhileWaiting: true });
  await expect(commandSwitch(deps, { team: 'devops', by: 'alice', reason: 'go', input: { verb: 'resume' } })).rejects.toThrow(/is not paused/);
  expect(steps).toEqual([]);
});

it('sent to a sidecar that does not run the switch, a command names the one that does (from the journal)', async () => {
  const { deps } = setup({ checkpointWhileWaiting: true });
  deps.journal.list = async () => [
    { id: 'op-8', type: 'traffic.switch', team: 'web', status: 'running', phase: 'step-10', ownerInstance: 'host-b', initiatedBy: 'x#1', idempotencyKey: null, params: { target: 'green' }, result: null, error: null, startedAt: new Date(0), completedAt: null, steps: [] },
  ];
  await expect(commandSwitch(deps, { team: 'web', by: 'a', reason: 'wrong host', input: { verb: 'pause' } })).rejects.toMatchObject({
    code: 'NOT_FOUND',
    message: expect.stringMatching(/the switch of web \(op-8\) runs on sidecar host-b, not on this one; send the command there/),
  });
});

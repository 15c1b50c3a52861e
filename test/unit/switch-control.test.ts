import { decide, nextControlState, pauseEndsAt, SwitchControls, type ControlState } from '../../agent/src/traffic/switch-control';
import { noSwitchControl } from '../../agent/src/traffic/switch/control';

/** A person's commands on a running switch: the pure transitions and what the run is told at each checkpoint. */
const alice = { by: 'alice', reason: 'looking at the queue' };
const at = new Date('2026-12-02T00:00:00Z');
const running: ControlState = { kind: 'running' };

it('pauses a running switch, refuses a second pause, resumes only a paused one', () => {
  const paused = nextControlState('devops', running, { verb: 'pause', at, ...alice });
  expect(paused).toEqual({ kind: 'paused', hold: { ...alice, since: at } });
  expect(() => nextControlState('devops', paused, { verb: 'pause', at, ...alice })).toThrow(/already paused \(by alice since 2026-12-02T00:00:00.000Z\)/);
  expect(nextControlState('devops', paused, { verb: 'resume', ...alice })).toEqual(running);
  expect(() => nextControlState('devops', running, { verb: 'resume', ...alice })).toThrow(/is not paused/);
});

it('promotes a paused switch (resuming it), keeps a full promotion asked twice, and refuses anything after an abort', () => {
  const paused = nextControlState('devops', running, { verb: 'pause', at, ...alice });
  const full = nextControlState('devops', paused, { verb: 'promote', full: true, ...alice });
  expect(full).toMatchObject({ kind: 'promote-requested', full: true });
  expect(nextControlState('devops', full, { verb: 'promote', full: false, ...alice })).toMatchObject({ kind: 'promote-requested', full: true });
  expect(() => nextControlState('devops', full, { verb: 'pause', at, ...alice })).toThrow(/is being promoted/);
  const aborting = nextControlState('devops', full, { verb: 'abort', hold: true, ...alice });
  expect(aborting).toMatchObject({ kind: 'abort-requested', hold: true });
  for (const verb of ['pause', 'resume', 'promote', 'abort'] as const) {
    expect(() => nextControlState('devops', aborting, { verb, at, full: false, hold: false, ...alice })).toThrow(/already being aborted/);
  }
});

it('tells the run: hold while paused, end the window once per promotion, a full one already before the step', () => {
  const paused = nextControlState('devops', running, { verb: 'pause', at, ...alice });
  expect(decide(paused, 'window', at)).toEqual({ decision: { kind: 'hold', hold: { ...alice, since: at } }, next: paused });
  const promote: ControlState = { kind: 'promote-requested', full: false, ...alice };
  // A plain promotion ends a window; before a step (none runs) it only lets the switch go on: the next window is not skipped.
  expect(decide(promote, 'step', at)).toEqual({ decision: { kind: 'continue' }, next: running });
  expect(decide(promote, 'window', at)).toEqual({ decision: { kind: 'end-window', full: false, ...alice }, next: running });
  expect(decide({ ...promote, full: true }, 'step', at)).toEqual({ decision: { kind: 'end-window', full: true, ...alice }, next: running });
  const abort: ControlState = { kind: 'abort-requested', hold: false, ...alice };
  expect(decide(abort, 'step', at).next).toBe(abort);
});

it('keeps one control per team while its switch runs, and says when none runs', () => {
  const controls = new SwitchControls();
  expect(() => controls.command('devops', { verb: 'pause', at, ...alice })).toThrow(/no switch of devops is running on this sidecar/);
  const control = controls.attach('devops', 'op-1');
  expect(controls.command('devops', { verb: 'pause', at, ...alice })).toMatchObject({ operationId: 'op-1', state: { kind: 'paused' } });
  control.release();
  expect(controls.get('devops')).toBeUndefined();
  expect(noSwitchControl.checkpoint(undefined as never, 'window')).toEqual({ kind: 'continue' });
});

it('ends a pause nobody resumed within its maxPauseSec, and only then, saying so in the domain words', () => {
  const paused = nextControlState('devops', running, { verb: 'pause', at, maxPauseSec: 3600, ...alice });
  const justBefore = new Date(at.getTime() + 3_599_999);
  expect(decide(paused, 'window', justBefore).decision).toMatchObject({ kind: 'hold' });
  const expired = decide(paused, 'step', new Date(at.getTime() + 3_600_000));
  expect(expired.decision).toMatchObject({ kind: 'pause-expired', reason: 'paused 3600 s without a resume (max_pause_sec); paused by alice: looking at the queue' });
  expect(pauseEndsAt((paused as Extract<ControlState, { kind: 'paused' }>).hold)).toEqual(new Date('2026-12-02T01:00:00Z'));
  // A pause without a limit (none given and no team default) holds on.
  const unlimited = nextControlState('devops', running, { verb: 'pause', at, ...alice });
  expect(decide(unlimited, 'window', new Date(at.getTime() + 86_400_000)).decision.kind).toBe('hold');
});

it("gives an approval gate's hold the team's max pause, and it expires like a pause", () => {
  const controls = new SwitchControls({ maxPauseSec: (team) => (team === 'devops' ? 600 : 1) });
  const control = controls.attach('devops', 'op-2');
  control.awaitApproval({ by: 'approval gate', reason: 'approve 50%', since: at, gate: 50 });
  const state = controls.get('devops')?.state;
  expect(state).toMatchObject({ kind: 'paused', hold: { maxPauseSec: 600, gate: 50 } });
  const run = { ctx: { clock: { now: () => new Date(at.getTime() + 600_000) } } } as never;
  expect(control.checkpoint(run, 'step')).toMatchObject({ kind: 'pause-expired', reason: expect.stringMatching(/^waited 600 s at the approval gate for 50% without a resume \(max_pause_sec\)/) });
});

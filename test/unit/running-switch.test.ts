import { runningSwitchResult } from '../../catalog/methods/running-switch';
import type { JournalStep, OperationRecord } from '../../agent/src/store/contract';
import { runningSwitchOf } from '../../agent/src/traffic/running-switch';

/** The running switch as any sidecar reads it back from the journal: where it is, and who holds it. */
let seq = 0;
const step = (name: string, intent: Record<string, unknown>, outcome: JournalStep['outcome'] = 'done'): JournalStep => ({ seq: ++seq, name, intent, outcome, result: null, at: new Date('2026-12-02T06:00:00Z') });
const move = (green: number, outcome: JournalStep['outcome'] = 'done') => step('weights', { step: green, weights: { blue: 100 - green, green } }, outcome);
const control = (intent: Record<string, unknown>, outcome: JournalStep['outcome'] = 'done') => step('control', intent, outcome);

function op(steps: JournalStep[]): OperationRecord {
  return {
    id: 'op-9',
    type: 'traffic.switch',
    team: 'devops',
    status: 'running',
    phase: 'step-25',
    ownerInstance: 'host-a',
    initiatedBy: 'devops/Infrastructure/Self-Managed-Blue-Green-Switch#41 (token devops)',
    idempotencyKey: null,
    params: { team: 'devops', target: 'green' },
    result: null,
    error: null,
    startedAt: new Date('2026-12-02T05:59:00Z'),
    completedAt: null,
    steps,
  };
}

it('a paused switch: phase paused, the weights it holds, since, by, why and when it rolls back', () => {
  const s = runningSwitchOf(
    op([
      step('prepare-target', {}),
      move(5),
      step('validate', { step: 5 }),
      move(25),
      step('validate', { step: 25 }, 'pending'),
      control({ verb: 'pause', by: 'alice', reason: 'queue looks odd', at: '2026-12-02T06:01:00.000Z', maxPauseSec: 3600 }),
    ]),
  );
  expect(s).toMatchObject({ operationId: 'op-9', target: 'green', phase: 'paused', percent: 25, weights: { blue: 75, green: 25 }, control: 'paused', ownerInstance: 'host-a' });
  expect(s.pause).toEqual({ since: '2026-12-02T06:01:00.000Z', by: 'alice', reason: 'queue looks odd', maxPauseSec: 3600, endsAt: '2026-12-02T07:01:00.000Z', gate: null });
  expect(runningSwitchResult.safeParse(JSON.parse(JSON.stringify(s))).success).toBe(true);
});

it('resumed, refused and taken commands: running again; a promotion pending until the run journals its next step', () => {
  const base = [move(10), step('validate', { step: 10 }, 'pending')];
  const resumed = runningSwitchOf(op([...base, control({ verb: 'pause', by: 'a', reason: 'r', at: '2026-12-02T06:01:00.000Z', maxPauseSec: 60 }), control({ verb: 'resume', by: 'a', reason: 'ok' })]));
  expect(resumed).toMatchObject({ phase: 'validating', control: 'running', pause: null });
  // A refused pause (outcome failed) changed nothing.
  expect(runningSwitchOf(op([...base, control({ verb: 'pause', by: 'a', reason: 'r', at: '2026-12-02T06:01:00.000Z' }, 'failed')])).control).toBe('running');
  expect(runningSwitchOf(op([...base, control({ verb: 'promote', by: 'a', reason: 'r', full: true })])).control).toBe('promote-requested');
  expect(runningSwitchOf(op([...base, control({ verb: 'promote', by: 'a', reason: 'r', full: true }), move(100, 'pending')]))).toMatchObject({ control: 'running', phase: 'stepping', percent: 100 });
  expect(runningSwitchOf(op([...base, control({ verb: 'abort', by: 'a', reason: 'r', hold: true })])).control).toBe('abort-requested');
});

it('an approval gate shows its step; before the first move there are no weights; the drain and rollback phases', () => {
  const gate = runningSwitchOf(op([move(25), step('validate', { step: 25 }), control({ verb: 'pause', by: 'approval gate', reason: 'approve 50%', at: '2026-12-02T06:02:00.000Z', maxPauseSec: 600, gate: 50 })]));
  expect(gate).toMatchObject({ phase: 'paused', percent: 25, pause: { gate: 50, maxPauseSec: 600 } });
  expect(runningSwitchOf(op([step('prepare-target', {}, 'pending')]))).toMatchObject({ phase: 'preparing', percent: null, weights: null });
  expect(runningSwitchOf(op([move(100), step('validate', { step: 100 }), step('drain-old', {}, 'pending')])).phase).toBe('draining');
  expect(runningSwitchOf(op([move(50), step('validate', { step: 50 }, 'failed'), step('rollback', { weights: { blue: 100, green: 0 } }, 'pending')]))).toMatchObject({ phase: 'rolling-back', percent: 0 });
});

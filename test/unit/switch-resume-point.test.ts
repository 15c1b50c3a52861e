import type { JournalStep } from '../../agent/src/store/contract';
import { JOURNAL_STEP } from '../../agent/src/traffic/journal-steps';
import { holdOf, pauseEndsAt, pauseExpired, resumePointOf } from '../../agent/src/traffic/switch/resume-point';
import { alreadyPast } from '../../agent/src/traffic/switch/resume-run';

/** Reading a dead sidecar's journal back: where a paused switch stood, and only when the journal says for certain. */
const params = { increments: [10, 25, 50, 100], approvalAt: [] };
const AT = '2026-12-02T06:00:00.000Z';

function journal(...steps: Array<[string, Record<string, unknown>, JournalStep['outcome']?, Record<string, unknown>?]>): { steps: JournalStep[] } {
  return { steps: steps.map(([name, intent, outcome = 'done', result = {}], i) => ({ seq: i + 1, name, intent, outcome, result, at: new Date(AT) })) };
}
const moved = (step: number, outcome: JournalStep['outcome'] = 'done'): [string, Record<string, unknown>, JournalStep['outcome']] => [
  JOURNAL_STEP.weights,
  { step, from: { blue: 100, green: 0 }, reason: 'progressive step', weights: { blue: 100 - step, green: step } },
  outcome,
];
const window = (step: number, outcome: JournalStep['outcome'] = 'done'): [string, Record<string, unknown>, JournalStep['outcome']] => [JOURNAL_STEP.validate, { step, validationSec: 60 }, outcome];
const pause = (extra: Record<string, unknown> = {}): [string, Record<string, unknown>] => [JOURNAL_STEP.control, { verb: 'pause', by: 'alice', reason: 'look at the logs', maxPauseSec: 900, at: AT, ...extra }];
const say = (verb: string, extra: Record<string, unknown> = {}): [string, Record<string, unknown>] => [JOURNAL_STEP.control, { verb, by: 'bob', reason: 'go', at: AT, ...extra }];

it('a pause inside the 25% window resumes that window, with the pause as journaled', () => {
  const p = resumePointOf(journal(moved(10), window(10), moved(25), pause(), window(25, 'pending')), params);
  expect(p).toEqual({ percent: 25, at: 'window', weights: { blue: 75, green: 25 }, hold: { by: 'alice', reason: 'look at the logs', since: new Date(AT), maxPauseSec: 900 }, full: false });
  // Restarted and killed again while held: the window run again after the first restart counts.
  expect(resumePointOf(journal(moved(10), window(10), moved(25), pause(), window(25, 'pending'), window(25, 'pending')), params)).toMatchObject({ percent: 25, at: 'window' });
  // Killed between the move and the window's intent: still that window.
  expect(resumePointOf(journal(moved(10), window(10), moved(25), pause()), params)).toMatchObject({ percent: 25, at: 'window' });
});

it('a pause after a passed window holds before the next step, on the weights of the last move', () => {
  expect(resumePointOf(journal(moved(10), window(10), moved(25), window(25), pause()), params)).toMatchObject({ percent: 50, at: 'step', weights: { blue: 75, green: 25 } });
  // A full promotion asked for before the pause and not yet moved: the next step is 100%.
  expect(resumePointOf(journal(moved(10), say('promote', { full: true }), window(10), pause()), params)).toMatchObject({ percent: 100, at: 'step', full: true });
  // Before the first move: held at the first step, nothing moved (the desired weights stand).
  expect(resumePointOf(journal(pause()), params)).toMatchObject({ percent: 10, at: 'step', weights: null });
});

it('is not paused once a person resumed, promoted or aborted after the pause', () => {
  for (const verb of ['resume', 'promote', 'abort']) expect(resumePointOf(journal(moved(10), pause(), say(verb)), params)).toBeNull();
  expect(resumePointOf(journal(moved(10), window(10, 'pending')), params)).toBeNull();
  // Paused again after a resume: paused.
  expect(resumePointOf(journal(moved(10), pause(), say('resume'), pause({ by: 'carol' })), params)).toMatchObject({ hold: { by: 'carol' } });
});

it('does not resume where the journal leaves the weights uncertain or the switch already ending', () => {
  expect(resumePointOf(journal(moved(10), window(10), pause(), moved(25, 'pending')), params)).toBeNull();
  expect(resumePointOf(journal(moved(10), pause(), window(10, 'failed')), params)).toBeNull();
  expect(resumePointOf(journal(moved(10), pause(), [JOURNAL_STEP.rollback, { reason: 'breach', weights: { blue: 100, green: 0 } }, 'pending']), params)).toBeNull();
  expect(resumePointOf(journal(moved(100), window(100), pause()), params)).toBeNull();
  expect(resumePointOf(journal(moved(100), window(100), [JOURNAL_STEP.drainOld, { server: 'x' }, 'pending'], pause()), params)).toBeNull();
  // A journaled pause without a readable time is not trusted.
  expect(resumePointOf(journal(moved(10), pause({ at: 'yesterday' })), params)).toBeNull();
});

it("treats an approval gate's hold like a pause, with the gate's step", () => {
  expect(holdOf({ verb: 'pause', by: 'switch', reason: 'approval gate', at: AT, gate: 50 })).toEqual({ by: 'switch', reason: 'approval gate', since: new Date(AT), gate: 50 });
  expect(resumePointOf(journal(moved(25), window(25), pause({ gate: 50, maxPauseSec: null })), params)).toMatchObject({ percent: 50, at: 'step', hold: { gate: 50 } });
  expect(holdOf({ verb: 'resume', by: 'x', reason: '', at: AT })).toBeNull();
});

it('a pause ends at since + maxPauseSec; one without a limit never does', () => {
  const hold = holdOf(pause()[1])!;
  expect(pauseEndsAt(hold)).toEqual(new Date('2026-12-02T06:15:00.000Z'));
  expect(pauseExpired(hold, new Date('2026-12-02T06:14:59.999Z'))).toBe(false);
  expect(pauseExpired(hold, new Date('2026-12-02T06:15:00.000Z'))).toBe(true);
  const unlimited = holdOf(pause({ maxPauseSec: null })[1])!;
  expect(pauseEndsAt(unlimited)).toBeNull();
  expect(pauseExpired(unlimited, new Date('2030-01-01T00:00:00.000Z'))).toBe(false);
});

it('skips the steps the run went through before the restart', () => {
  const inWindow = { percent: 25, at: 'window' as const, weights: { blue: 75, green: 25 }, hold: holdOf(pause()[1])!, full: false };
  expect([10, 25, 50, 100].filter((p) => !alreadyPast(inWindow, p))).toEqual([50, 100]);
  expect([10, 25, 50, 100].filter((p) => !alreadyPast({ ...inWindow, percent: 50, at: 'step' }, p))).toEqual([50, 100]);
});

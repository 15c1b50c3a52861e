import { canTransition, SWITCH_PHASES, TERMINAL_PHASES, transition, type SwitchPhase } from '../../agent/src/traffic/switch/phase';
import { JOURNAL_STEP } from '../../agent/src/traffic/journal-steps';

/** The switch's phase table: the paths a switch takes are allowed, the others refused. */
it('allows the promoted path and each way out of it', () => {
  const promoted: SwitchPhase[] = ['checking', 'preparing', 'stepping', 'validating', 'stepping', 'validating', 'draining', 'promoting', 'promoted'];
  let phase = promoted[0];
  for (const next of promoted.slice(1)) phase = transition(phase, next);
  expect(phase).toBe('promoted');
  // A breach in a window, a target down before a step, a failure while draining or promoting: rolled back.
  for (const from of ['stepping', 'validating', 'draining', 'promoting'] as const) expect(transition(from, 'rolling-back')).toBe('rolling-back');
  // A rollback whose move failed is retried once as a failed switch's rollback, then ends failed.
  expect(transition('rolling-back', 'rolling-back')).toBe('rolling-back');
  expect(transition('rolling-back', 'failed')).toBe('failed');
  expect(transition('rolling-back', 'rolled-back')).toBe('rolled-back');
});

it('refuses to roll back before anything moved, to leave a terminal phase, or to skip the window', () => {
  expect(() => transition('preparing', 'rolling-back')).toThrow('cannot go from preparing to rolling-back');
  expect(() => transition('stepping', 'draining')).toThrow('cannot go from stepping to draining');
  expect(() => transition('checking', 'stepping')).toThrow('cannot go from checking to stepping');
  for (const end of TERMINAL_PHASES) {
    for (const to of SWITCH_PHASES) expect(canTransition(end, to)).toBe(false);
  }
});

it('lets an emergency halt stop every phase that runs while the switch is registered', () => {
  const running = SWITCH_PHASES.filter((p) => !TERMINAL_PHASES.has(p) && p !== 'checking');
  expect(running).toEqual(['preparing', 'stepping', 'validating', 'paused', 'draining', 'promoting', 'rolling-back']);
  for (const p of running) expect(canTransition(p, 'halted')).toBe(true);
});

it('holds a paused switch in its step or window, from which a breach, a halt or an abort still end it', () => {
  for (const from of ['stepping', 'validating'] as const) expect(transition(transition(from, 'paused'), from)).toBe(from);
  for (const to of ['rolling-back', 'halted', 'aborted'] as const) expect(canTransition('paused', to)).toBe(true);
  expect(() => transition('paused', 'draining')).toThrow('cannot go from paused to draining');
  expect(() => transition('draining', 'aborted')).toThrow('cannot go from draining to aborted');
});

it('names each journal step once', () => {
  const names = Object.values(JOURNAL_STEP);
  expect(new Set(names).size).toBe(names.length);
});

it('starts a run found paused after a restart paused, from which it resumes its step or window or ends as any pause does', () => {
  expect(transition('checking', 'paused')).toBe('paused');
  for (const to of ['stepping', 'validating', 'rolling-back', 'halted', 'aborted', 'failed'] as const) expect(canTransition('paused', to)).toBe(true);
  // Still never straight into a window or a move without the pause it was found in.
  expect(() => transition('checking', 'validating')).toThrow('cannot go from checking to validating');
});

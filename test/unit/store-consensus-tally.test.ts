import { quorumFor, tally } from '../../agent/src/store/consensus-tally';
import type { Vote } from '../../agent/src/store/contract';

const now = new Date('2026-01-01T00:00:00Z');
const later = new Date('2026-01-01T00:05:00Z');
const v = (voter: string, approve: boolean, reason = approve ? 'ok' : 'no way'): Vote => ({ voter, approve, reason, at: now });
const three = ['a', 'b', 'c'];

describe('consensus tally (majority quorum)', () => {
  it('quorum is floor(n/2)+1', () => {
    expect([1, 2, 3, 4, 5].map(quorumFor)).toEqual([1, 2, 2, 3, 3]);
  });

  it('is open while the outcome is uncertain', () => {
    expect(tally({ eligible: three, quorum: 2, votes: [v('a', true)], now, deadline: later }).state).toBe('open');
    expect(tally({ eligible: three, quorum: 2, votes: [v('a', false)], now, deadline: later }).state).toBe('open');
  });

  it('approves at 2 of 3 yes', () => {
    const t = tally({ eligible: three, quorum: 2, votes: [v('a', true), v('b', true)], now, deadline: later });
    expect(t).toMatchObject({ state: 'approved', yes: 2, no: 0 });
    expect(t.reason).toContain('2 of 3');
  });

  it('denies as soon as quorum is impossible, with every reason', () => {
    const t = tally({ eligible: three, quorum: 2, votes: [v('b', false, 'breaker open'), v('c', false, 'haproxy down')], now, deadline: later });
    expect(t.state).toBe('denied');
    expect(t.reason).toContain('b no: breaker open');
    expect(t.reason).toContain('c no: haproxy down');
  });

  it('denies at the deadline, naming who did not vote', () => {
    const t = tally({ eligible: three, quorum: 2, votes: [v('a', true)], now: later, deadline: later, timeoutSec: 300 });
    expect(t.state).toBe('denied');
    expect(t.reason).toMatch(/timed out after 300s/);
    expect(t.reason).toContain('no vote from b, c');
  });

  it('ignores votes from instances that were not live at proposal time', () => {
    const t = tally({ eligible: three, quorum: 2, votes: [v('a', true), v('zz', true)], now, deadline: later });
    expect(t).toMatchObject({ state: 'open', yes: 1 });
  });

  it('even n: 2 of 4 no makes quorum 3 impossible', () => {
    const t = tally({ eligible: ['a', 'b', 'c', 'd'], quorum: 3, votes: [v('a', false), v('b', false)], now, deadline: later });
    expect(t.state).toBe('denied');
  });
});

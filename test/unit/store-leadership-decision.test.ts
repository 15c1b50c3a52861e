import { decideLeadership, HEALTH_MARGIN } from '../../agent/src/store/leadership';

const now = new Date('2026-01-01T00:00:10Z');
const live = { leader: 'a', expiresAt: new Date('2026-01-01T00:00:30Z') };
const expired = { leader: 'a', expiresAt: new Date('2026-01-01T00:00:05Z') };

describe('health-based leadership decision', () => {
  it('takes a free lease', () => {
    expect(decideLeadership({ lease: null, now, candidate: 'b', candidateHealth: 50, leaderHealth: null }).kind).toBe('take');
  });
  it('takes an expired lease', () => {
    expect(decideLeadership({ lease: expired, now, candidate: 'b', candidateHealth: 50, leaderHealth: 90 }).kind).toBe('take');
  });
  it('the leader renews its own lease', () => {
    expect(decideLeadership({ lease: live, now, candidate: 'a', candidateHealth: 10, leaderHealth: 10 }).kind).toBe('renew');
  });
  it('takes over from a leader that stopped heartbeating', () => {
    expect(decideLeadership({ lease: live, now, candidate: 'b', candidateHealth: 50, leaderHealth: null }).kind).toBe('take');
  });
  it('does not take from an equally healthy live leader (no flapping)', () => {
    expect(decideLeadership({ lease: live, now, candidate: 'b', candidateHealth: 90, leaderHealth: 90 }).kind).toBe('reject');
    expect(decideLeadership({ lease: live, now, candidate: 'b', candidateHealth: 90 + HEALTH_MARGIN - 1, leaderHealth: 90 }).kind).toBe('reject');
  });
  it('a clearly healthier live candidate takes over', () => {
    expect(decideLeadership({ lease: live, now, candidate: 'b', candidateHealth: 95, leaderHealth: 95 - HEALTH_MARGIN }).kind).toBe('take');
  });
  it('a candidate without a recent heartbeat cannot preempt a live leader', () => {
    expect(decideLeadership({ lease: live, now, candidate: 'b', candidateHealth: null, leaderHealth: 0 }).kind).toBe('reject');
  });
});

import { StreamSlots } from '../../agent/src/dashboard/stream-slots';
import type { DashboardIdentity } from '../../agent/src/dashboard/live-events';

const team = (id: string): DashboardIdentity => ({ id, teams: ['alpha'] });
const ops: DashboardIdentity = { id: 'ops', teams: ['*'] };

describe('dashboard stream slots', () => {
  it('refuses a token over its own limit with CONFLICT in_flight_limit (429), and gives the slot back once', () => {
    const slots = new StreamSlots({ maxStreams: 10, perToken: 2, opsReserved: 1 });
    const a = slots.take(team('a'));
    const b = slots.take(team('a'));
    expect(a.ok && b.ok).toBe(true);
    const third = slots.take(team('a'));
    expect(third).toMatchObject({ ok: false, status: 429, error: { code: 'CONFLICT', reason: 'in_flight_limit' } });
    if (a.ok) {
      a.release();
      a.release();
    }
    expect(slots.take(team('a')).ok).toBe(true);
    expect(slots.take(team('a'))).toMatchObject({ ok: false, status: 429 });
  });

  it('keeps the reserve for the ops token: team tokens get 503 once only the reserve is left', () => {
    const slots = new StreamSlots({ maxStreams: 3, perToken: 5, opsReserved: 1 });
    expect(slots.take(team('a')).ok).toBe(true);
    expect(slots.take(team('b')).ok).toBe(true);
    expect(slots.take(team('c'))).toMatchObject({ ok: false, status: 503, error: { code: 'DEPENDENCY_DOWN' } });
    expect(slots.take(ops).ok).toBe(true);
    expect(slots.take(ops)).toMatchObject({ ok: false, status: 503 });
  });
});

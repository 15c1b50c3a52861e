import { admit, BreakerRecord, closedBreaker, DEFAULT_BREAKER_POLICY as P, onFailure, onSuccess, statusOf } from '../../agent/src/store/breaker-logic';

/** A fake clock: minutes after a fixed instant. */
const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (min: number): Date => new Date(T0 + min * 60_000);

function failTimes(rec: BreakerRecord, minutes: number[]): BreakerRecord {
  return minutes.reduce((r, m) => onFailure(r, at(m), `failure at ${m}m`), rec);
}

describe('breaker-logic (seed: 3 failures in 10 min -> open 30 min -> one half-open trial)', () => {
  const fresh = closedBreaker('infrastructure_modification:devops');

  it('closed admits without a trial', () => {
    const d = admit(fresh, at(0));
    expect(d).toMatchObject({ admitted: true, trial: false });
  });

  it('two failures within the window keep it closed and are counted', () => {
    const r = failTimes(fresh, [0, 5]);
    expect(r.state).toBe('closed');
    expect(statusOf(r, at(6)).failures).toBe(2);
    expect(r.lastReason).toBe('failure at 5m');
  });

  it('the third failure within 10 minutes opens it for 30 minutes', () => {
    const r = failTimes(fresh, [0, 4, 9]);
    expect(r.state).toBe('open');
    expect(r.openedAt).toEqual(at(9));
    expect(r.retryAt).toEqual(at(39));
    expect(statusOf(r, at(9.5))).toMatchObject({ state: 'open', failures: 3, retryAt: at(39) });
  });

  it('failures spread wider than the window do not open it', () => {
    const r = failTimes(fresh, [0, 6, 11]); // the one at 0 has left the window at 11
    expect(r.state).toBe('closed');
    expect(statusOf(r, at(11)).failures).toBe(2);
    expect(statusOf(r, at(30)).failures).toBe(0);
  });

  it('open rejects until the recovery time, naming when to retry', () => {
    const r = failTimes(fresh, [0, 1, 2]);
    const d = admit(r, at(31.9));
    expect(d.admitted).toBe(false);
    if (!d.admitted) expect(d.retryAt).toEqual(at(32));
  });

  it('after the recovery time it is half-open and admits exactly ONE trial', () => {
    const r = failTimes(fresh, [0, 1, 2]);
    expect(statusOf(r, at(32)).state).toBe('half_open');
    const first = admit(r, at(32));
    expect(first).toMatchObject({ admitted: true, trial: true });
    expect(first.next.state).toBe('half_open');
    const second = admit(first.next, at(33));
    expect(second.admitted).toBe(false);
  });

  it('a successful trial closes it and clears the failures', () => {
    const r = failTimes(fresh, [0, 1, 2]);
    const trial = admit(r, at(40)).next;
    const closed = onSuccess(trial, at(41));
    expect(closed.state).toBe('closed');
    expect(statusOf(closed, at(41))).toMatchObject({ state: 'closed', failures: 0, openedAt: null, retryAt: null });
    expect(admit(closed, at(41))).toMatchObject({ admitted: true, trial: false });
  });

  it('a failed trial re-opens it for another recovery period', () => {
    const r = failTimes(fresh, [0, 1, 2]);
    const trial = admit(r, at(40)).next;
    const reopened = onFailure(trial, at(41), 'trial failed');
    expect(reopened.state).toBe('open');
    expect(reopened.openedAt).toEqual(at(41));
    expect(reopened.retryAt).toEqual(at(71));
    expect(reopened.lastReason).toBe('trial failed');
    expect(admit(reopened, at(70)).admitted).toBe(false);
  });

  it('a trial that never reports back stops blocking after the trial timeout (45 min)', () => {
    const r = failTimes(fresh, [0, 1, 2]);
    const trial = admit(r, at(40)).next;
    expect(admit(trial, at(40 + 44)).admitted).toBe(false);
    expect(admit(trial, at(40 + 45))).toMatchObject({ admitted: true, trial: true });
  });

  it('success while closed does not forgive failures inside the window', () => {
    const r = onSuccess(failTimes(fresh, [0, 1]), at(2));
    expect(r.state).toBe('closed');
    expect(onFailure(r, at(3), 'third').state).toBe('open');
  });

  it('failures while open are recorded but do not move the retry time', () => {
    const r = failTimes(fresh, [0, 1, 2]);
    const more = onFailure(r, at(5), 'late report');
    expect(more.state).toBe('open');
    expect(more.retryAt).toEqual(at(32));
  });

  it('success while open changes nothing', () => {
    const r = failTimes(fresh, [0, 1, 2]);
    expect(onSuccess(r, at(5))).toEqual(r);
  });

  it('uses the seed defaults', () => {
    expect(P).toEqual({ maxFailures: 3, failureWindowMs: 600_000, recoveryMs: 1_800_000, trialTimeoutMs: 2_700_000 });
  });
});

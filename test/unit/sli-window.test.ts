import { parseTriggers, DEFAULT_TRIGGERS } from '../../catalog/triggers';
import { describeBreaches, judge, stuck, windowFigures, windowMeanResponseMs, withSynthetic, type SliSample } from '../../agent/src/traffic/sli';

const s = (at: number, reqTot: number, hrsp5xx = 0, rtime = 10, status = 'UP', extra: Partial<SliSample['target']> = {}): SliSample => ({
  at,
  target: { status, reqTot, hrsp5xx, econ: 0, eresp: 0, rtime, ...extra },
});

/** HAProxy's own update rule, to check the inversion against. */
function simulate(values: number[], start = { sum: 0, count: 0 }): { rtime: number; reqTot: number; sum: number } {
  let sum = start.sum;
  let count = start.count;
  for (const v of values) {
    sum = sum - Math.floor((sum + 1023) / 1024) + v;
    count += 1;
  }
  return { rtime: Math.floor(sum / Math.min(count, 1024)), reqTot: count, sum };
}

describe('window figures', () => {
  it('computes error rate from 5xx and connection errors per request over deltas', () => {
    const f = windowFigures([s(0, 100, 1), s(1000, 150, 3), s(2000, 200, 11, 10, 'UP', { econ: 2 })]);
    expect(f).toMatchObject({ requests: 100, errors: 12, errorRate: 12, availability: 100, samples: 3, durationMs: 2000 });
  });

  it('survives a counter reset (reload) inside the window', () => {
    const f = windowFigures([s(0, 1000, 0), s(1000, 1050, 0), s(2000, 20, 1)]);
    expect(f.requests).toBe(70);
    expect(f.errors).toBe(1);
  });

  it('availability is the share of UP readings', () => {
    const f = windowFigures([s(0, 0), s(1, 0), s(2, 0, 0, 0, 'DOWN 1/2'), s(3, 0)]);
    expect(f.availability).toBe(75);
    expect(f.errorRate).toBe(0);
    expect(f.responseTimeMs).toBeNull();
  });

  it('recovers the window mean response time from HAProxy sliding averages', () => {
    const before = simulate(Array(200).fill(20));
    const after = simulate(Array(50).fill(1500), { sum: before.sum, count: before.reqTot });
    const m = windowMeanResponseMs(before, after)!;
    expect(Math.abs(m - 1500)).toBeLessThan(60);
    const longBefore = simulate(Array(5000).fill(20));
    const longAfter = simulate(Array(100).fill(900), { sum: longBefore.sum, count: longBefore.reqTot });
    expect(Math.abs(windowMeanResponseMs(longBefore, longAfter)! - 900)).toBeLessThan(60);
  });

  it('averages container CPU and memory when present', () => {
    const f = windowFigures([{ ...s(0, 0), container: { cpuPercent: 80, memoryPercent: 50 } }, { ...s(1, 0), container: { cpuPercent: 100, memoryPercent: 60 } }]);
    expect(f.cpuPercent).toBe(90);
    expect(f.memoryPercent).toBe(55);
  });
});

describe('judge', () => {
  const triggers = parseTriggers(DEFAULT_TRIGGERS);

  it('passes a clean window with enough requests', () => {
    expect(judge(triggers, windowFigures([s(0, 0), s(1000, 50)]), 20, true)?.kind).toBe('pass');
  });

  it('reports a breach with its figures as soon as enough requests show it', () => {
    const v = judge(triggers, windowFigures([s(0, 0), s(1000, 40, 12)]), 20, false);
    expect(v?.kind).toBe('breach');
    if (v?.kind !== 'breach') throw new Error('expected breach');
    expect(v.breaches[0]).toMatchObject({ metric: 'error_rate', value: 30, threshold: 2 });
    expect(describeBreaches(v.breaches)).toBe("error_rate 30% (trigger 'error_rate > 2%')");
  });

  it('does not judge request-based triggers on a handful of requests, and calls such a window insufficient at its end', () => {
    const f = windowFigures([s(0, 0), s(1000, 3, 1)]);
    expect(judge(triggers, f, 20, false)).toBeNull();
    expect(judge(triggers, f, 20, true)).toMatchObject({ kind: 'insufficient', minSamples: 20 });
  });

  it('judges availability on any number of requests', () => {
    const f = windowFigures([s(0, 0), s(1000, 1, 0, 10, 'DOWN')]);
    expect(judge(triggers, f, 20, false)).toMatchObject({ kind: 'breach', breaches: [expect.objectContaining({ metric: 'availability', value: 50 })] });
  });

  it('a target that holds sessions and answers nothing does not pass, even with minSamples 0', () => {
    // 12 requests arrived, all still open; nothing answered, no error counted yet.
    const f = windowFigures([s(0, 0, 0, 0, 'UP', { scur: 0 }), s(1000, 8, 0, 0, 'UP', { scur: 8 }), s(2000, 12, 0, 0, 'UP', { scur: 12 })]);
    expect(f).toMatchObject({ requests: 12, held: 12, answered: 0 });
    expect(stuck(f)).toBe(true);
    expect(judge(triggers, f, 0, false)).toBeNull();
    expect(judge(triggers, f, 0, true)).toMatchObject({ kind: 'insufficient' });
  });

  it('sessions held from before the window that stay open count as unanswered too', () => {
    const f = windowFigures([s(0, 5, 0, 0, 'UP', { scur: 5 }), s(2000, 5, 0, 0, 'UP', { scur: 5 })]);
    expect(f).toMatchObject({ requests: 0, held: 5, answered: 0 });
    expect(judge(triggers, f, 0, true)?.kind).toBe('insufficient');
  });

  it('a busy target with requests in flight that answers the rest passes; an idle one passes with minSamples 0', () => {
    const busy = windowFigures([s(0, 100, 0, 10, 'UP', { scur: 3 }), s(2000, 200, 0, 10, 'UP', { scur: 4 })]);
    expect(busy).toMatchObject({ requests: 100, held: 4, answered: 99 });
    expect(judge(triggers, busy, 20, true)?.kind).toBe('pass');
    expect(judge(triggers, windowFigures([s(0, 0), s(2000, 0)]), 0, true)?.kind).toBe('pass');
  });
});

describe('what signed-in people see, and the synthetic transaction', () => {
  const triggers = parseTriggers(DEFAULT_TRIGGERS);
  const p = (at: number, reqTot: number, requests: number, errors: number): SliSample => ({ ...s(at, reqTot), people: { requests, errors } });

  it('counts crumb refusals and lost sessions of people on their own controller as errors (no 5xx involved)', () => {
    const f = windowFigures([p(0, 100, 40, 1), p(1000, 150, 70, 4), p(2000, 200, 100, 7)]);
    expect(f).toMatchObject({ requests: 100, sessionRequests: 60, sessionErrors: 6, errors: 6, errorRate: 6 });
    expect(judge(triggers, f, 20, true)).toMatchObject({ kind: 'breach', breaches: [expect.objectContaining({ metric: 'error_rate', value: 6 })] });
  });

  it('one failed synthetic transaction is a breach, however few requests the window saw', () => {
    const quiet = windowFigures([s(0, 0), s(1000, 2)]);
    const failed = withSynthetic(quiet, [{ ok: true, ms: 20 }, { ok: false, failure: 'GET /crumbIssuer/api/json on green: HTTP 503', ms: 30 }]);
    expect(failed.synthetic).toEqual({ runs: 2, failures: 1, lastFailure: 'GET /crumbIssuer/api/json on green: HTTP 503' });
    const verdict = judge(triggers, failed, 20, false);
    expect(verdict).toMatchObject({ kind: 'breach', breaches: [expect.objectContaining({ metric: 'synthetic', value: 1 })] });
    expect(describeBreaches(verdict?.kind === 'breach' ? verdict.breaches : [])).toBe('1 failed synthetic Jenkins transaction on the target (GET /crumbIssuer/api/json on green: HTTP 503)');
    // Too few real requests and a passing synthetic check: still not a pass.
    expect(judge(triggers, withSynthetic(quiet, [{ ok: true, ms: 20 }]), 20, true)?.kind).toBe('insufficient');
    // No synthetic check configured: the figures say so (null), nothing is invented.
    expect(withSynthetic(quiet, null).synthetic).toBeNull();
  });
});

import { windowFigures, type SliSample } from '../../agent/src/traffic/sli';
import { thinOut } from '../../agent/src/traffic/switch/phases/validate-window';

/** A window held for hours is thinned out, and its figures stay those of the whole window. */
it('thinning a held window keeps its first and last samples and its request, error and response-time figures', () => {
  const samples: SliSample[] = [];
  for (let i = 0; i <= 1001; i += 1) {
    samples.push({ at: i * 1000, target: { status: 'UP', reqTot: 10 * i, hrsp5xx: Math.floor(i / 4), econ: 0, eresp: 0, rtime: 40, scur: 0 }, people: { requests: 2 * i, errors: 0 }, container: null });
  }
  const before = windowFigures(samples);
  const first = samples[0];
  const last = samples.at(-1);
  thinOut(samples);
  expect(samples.length).toBe(502);
  expect(samples[0]).toBe(first);
  expect(samples.at(-1)).toBe(last);
  const after = windowFigures(samples);
  expect(after).toMatchObject({ requests: before.requests, errors: before.errors, errorRate: before.errorRate, sessionRequests: before.sessionRequests, availability: 100, durationMs: before.durationMs });
  expect(after.responseTimeMs).toBeCloseTo(before.responseTimeMs!, 1);
});

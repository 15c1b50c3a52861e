import { breaches, type Trigger } from '../../../catalog/triggers';
import { isServerUp, type ServerStat } from '../haproxy/stats';

/**
 * Turns `show stat` samples of the target server, taken about once a second
 * during a validation window, into the window's figures and a verdict. Pure:
 * the switch feeds it samples; tests feed it numbers.
 */
export interface SliSample {
  /** ms since epoch */
  at: number;
  target: Pick<ServerStat, 'status' | 'reqTot' | 'hrsp5xx' | 'econ' | 'eresp' | 'rtime'> & {
    /** Sessions open on the target (requests in flight); absent: none known. */
    scur?: number;
  };
  /** Target container's Docker stats, when a Docker engine is configured. */
  container?: { cpuPercent: number; memoryPercent: number } | null;
}

export interface WindowFigures {
  samples: number;
  durationMs: number;
  requests: number;
  errors: number;
  /** percent of requests (5xx + connection/response errors); 0 when no requests */
  errorRate: number;
  /** mean response time of the window's requests, ms; null when none answered */
  responseTimeMs: number | null;
  /** percent of samples whose health check said UP */
  availability: number;
  /** Sessions open on the target at the last sample: requests it has not answered (yet). */
  held: number;
  /**
   * Requests the target answered without an error in the window: sessions open
   * at its start plus those that arrived, minus those still open, minus errors.
   * A target that holds sessions and answers none is stuck, not idle.
   */
  answered: number;
  cpuPercent: number | null;
  memoryPercent: number | null;
}

/** HAProxy's rtime is a sliding average over this many requests (TIME_STATS_SAMPLES). */
const TIME_STATS_SAMPLES = 1024;

/** Counter delta that survives a counter reset (HAProxy reload zeroes stats). */
const delta = (prev: number, cur: number): number => (cur >= prev ? cur - prev : cur);

/**
 * Mean response time of the `k` requests between two readings of rtime.
 * HAProxy keeps sum ← sum − sum/N + v and shows sum/min(count, N); so
 * sum_b = sum_a·dᵏ + m·N·(1−dᵏ) with d = 1 − 1/N, solved for m.
 */
export function windowMeanResponseMs(a: { rtime: number; reqTot: number }, b: { rtime: number; reqTot: number }): number | null {
  const k = delta(a.reqTot, b.reqTot);
  if (k <= 0) return null;
  if (b.reqTot < a.reqTot) return b.rtime; // reset: all of b's average is new
  const sumA = a.rtime * Math.min(a.reqTot, TIME_STATS_SAMPLES);
  const sumB = b.rtime * Math.min(b.reqTot, TIME_STATS_SAMPLES);
  const dk = Math.pow(1 - 1 / TIME_STATS_SAMPLES, k);
  const m = (sumB - sumA * dk) / (TIME_STATS_SAMPLES * (1 - dk));
  return Math.max(0, m);
}

export function windowFigures(samples: readonly SliSample[]): WindowFigures {
  let requests = 0;
  let errors = 0;
  let weightedRt = 0;
  let rtRequests = 0;
  for (let i = 1; i < samples.length; i += 1) {
    const a = samples[i - 1].target;
    const b = samples[i].target;
    const k = delta(a.reqTot, b.reqTot);
    requests += k;
    errors += delta(a.hrsp5xx, b.hrsp5xx) + delta(a.econ, b.econ) + delta(a.eresp, b.eresp);
    const m = windowMeanResponseMs(a, b);
    if (m !== null) {
      weightedRt += m * k;
      rtRequests += k;
    }
  }
  // The first sample is the window's baseline; availability counts every reading.
  const up = samples.filter((s) => isServerUp(s.target)).length;
  const containers = samples.map((s) => s.container).filter((c): c is { cpuPercent: number; memoryPercent: number } => !!c);
  const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : null);
  const denominator = Math.max(requests, errors);
  const heldAtStart = samples.length ? (samples[0].target.scur ?? 0) : 0;
  const held = samples.length ? (samples[samples.length - 1].target.scur ?? 0) : 0;
  return {
    samples: samples.length,
    durationMs: samples.length ? samples[samples.length - 1].at - samples[0].at : 0,
    requests,
    errors,
    errorRate: denominator > 0 ? round2((errors / denominator) * 100) : 0,
    responseTimeMs: rtRequests > 0 ? round2(weightedRt / rtRequests) : null,
    availability: samples.length ? round2((up / samples.length) * 100) : 0,
    held,
    answered: Math.max(0, heldAtStart + requests - held - errors),
    cpuPercent: nullableRound(mean(containers.map((c) => c.cpuPercent))),
    memoryPercent: nullableRound(mean(containers.map((c) => c.memoryPercent))),
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
const nullableRound = (x: number | null): number | null => (x === null ? null : round2(x));

export interface Breach {
  trigger: string;
  metric: Trigger['metric'];
  threshold: number;
  value: number;
}

export type Verdict =
  | { kind: 'pass'; figures: WindowFigures }
  | { kind: 'breach'; figures: WindowFigures; breaches: Breach[] }
  /** Too few requests to judge the request-based triggers: not a pass. */
  | { kind: 'insufficient'; figures: WindowFigures; minSamples: number };

function metricValue(t: Trigger, f: WindowFigures): number | null {
  switch (t.metric) {
    case 'error_rate':
      return f.errorRate;
    case 'response_time':
      return f.responseTimeMs;
    case 'availability':
      return f.availability;
    case 'cpu_usage':
      return f.cpuPercent;
    case 'memory_usage':
      return f.memoryPercent;
  }
}

/**
 * Verdict on figures so far. Availability, CPU and memory are judged on any
 * sample count (a DOWN check is a fact); error rate and response time only once
 * `minSamples` requests have been seen. `final` marks the end of the window:
 * only then does a lack of requests yield `insufficient` rather than "keep going".
 */
export function judge(triggers: readonly Trigger[], figures: WindowFigures, minSamples: number, final: boolean): Verdict | null {
  const enough = figures.requests >= minSamples && !stuck(figures);
  const found: Breach[] = [];
  for (const t of triggers) {
    const requestBased = t.metric === 'error_rate' || t.metric === 'response_time';
    if (requestBased && !enough) continue;
    const v = metricValue(t, figures);
    if (v === null) continue;
    if (breaches(t, v)) found.push({ trigger: t.source, metric: t.metric, threshold: t.threshold, value: v });
  }
  if (found.length) return { kind: 'breach', figures, breaches: found };
  if (!final) return null;
  if (!enough) return { kind: 'insufficient', figures, minSamples };
  return { kind: 'pass', figures };
}

/**
 * Whatever minSamples says, a window whose target holds sessions and has
 * answered none is not enough to judge: hung requests are no failure HAProxy
 * counts until they time out, and a slow target's answers may still come (the
 * window extends, then rolls back if they never do).
 */
export function stuck(f: WindowFigures): boolean {
  return f.held > 0 && f.answered === 0;
}

export function describeBreaches(bs: readonly Breach[]): string {
  return bs.map((b) => `${b.metric} ${b.value}${b.metric === 'response_time' ? 'ms' : '%'} (trigger '${b.trigger}')`).join(', ');
}

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
  /** The target's row of the team's people table (haproxy/people-table.ts); absent: not read. */
  people?: { requests: number; errors: number } | null;
}

/** One synthetic Jenkins transaction on the target through HAProxy (synthetic.ts). */
export interface SyntheticOutcome {
  ok: boolean;
  /** What failed, in words a person can act on; absent when ok. */
  failure?: string;
  ms: number;
}

export interface WindowFigures {
  samples: number;
  durationMs: number;
  requests: number;
  errors: number;
  /** percent of requests (5xx + connection/response errors + session errors of signed-in people); 0 when no requests */
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
  /** Answers to signed-in people on the controller holding their session (HAProxy's people table). */
  sessionRequests: number;
  /** Of those, a crumb refusal or a lost session: counted in `errors` too. */
  sessionErrors: number;
  /** The window's synthetic transactions: run / failed (null: none configured). */
  synthetic: { runs: number; failures: number; lastFailure: string | null } | null;
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
  let sessionRequests = 0;
  let sessionErrors = 0;
  for (let i = 1; i < samples.length; i += 1) {
    const a = samples[i - 1].target;
    const b = samples[i].target;
    const k = delta(a.reqTot, b.reqTot);
    requests += k;
    errors += delta(a.hrsp5xx, b.hrsp5xx) + delta(a.econ, b.econ) + delta(a.eresp, b.eresp);
    const pa = samples[i - 1].people;
    const pb = samples[i].people;
    if (pa && pb) {
      // A 403 or a redirect is no 5xx: these errors are not counted above.
      sessionRequests += delta(pa.requests, pb.requests);
      sessionErrors += delta(pa.errors, pb.errors);
    }
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
  errors += sessionErrors;
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
    sessionRequests,
    sessionErrors,
    synthetic: null,
  };
}

/** The window's figures with its synthetic transactions so far (null: no synthetic check configured). */
export function withSynthetic(f: WindowFigures, outcomes: readonly SyntheticOutcome[] | null): WindowFigures {
  if (outcomes === null) return f;
  const failed = outcomes.filter((o) => !o.ok);
  return { ...f, synthetic: { runs: outcomes.length, failures: failed.length, lastFailure: failed.length ? (failed[failed.length - 1].failure ?? 'failed') : null } };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
const nullableRound = (x: number | null): number | null => (x === null ? null : round2(x));

export interface Breach {
  trigger: string;
  /** 'synthetic': a synthetic Jenkins transaction on the target failed (value: failures, threshold 0). */
  metric: Trigger['metric'] | 'synthetic';
  threshold: number;
  value: number;
  /** For 'synthetic': what failed. */
  detail?: string;
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
  // One failed synthetic transaction is a breach on any sample count: it is a person's failure seen first-hand.
  if (figures.synthetic && figures.synthetic.failures > 0) {
    found.push({ trigger: 'synthetic Jenkins transaction', metric: 'synthetic', threshold: 0, value: figures.synthetic.failures, detail: figures.synthetic.lastFailure ?? undefined });
  }
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
  return bs
    .map((b) =>
      b.metric === 'synthetic'
        ? `${b.value} failed synthetic Jenkins transaction${b.value === 1 ? '' : 's'} on the target (${b.detail ?? 'failed'})`
        : `${b.metric} ${b.value}${b.metric === 'response_time' ? 'ms' : '%'} (trigger '${b.trigger}')`,
    )
    .join(', ');
}

import type { BreakerState, BreakerStatus } from './contract';

/**
 * Circuit-breaker transitions, pure (the time is an argument). Seed defaults
 * (infrastructure_modification): 3 failures within 10 min open the breaker for
 * 30 min; then it is half-open and admits ONE trial: success closes it,
 * failure re-opens it for another recovery period. A trial that never reports
 * back (its sidecar died) stops blocking after `trialTimeoutMs` (the
 * operation timeout, 45m), so a crash cannot wedge the breaker half-open.
 */
export interface BreakerPolicy {
  maxFailures: number;
  failureWindowMs: number;
  recoveryMs: number;
  trialTimeoutMs: number;
}

export const DEFAULT_BREAKER_POLICY: BreakerPolicy = {
  maxFailures: 3,
  failureWindowMs: 10 * 60_000,
  recoveryMs: 30 * 60_000,
  trialTimeoutMs: 45 * 60_000,
};

export interface BreakerRecord {
  name: string;
  state: BreakerState;
  /** Failures inside the window (oldest first). */
  failureTimes: Date[];
  openedAt: Date | null;
  retryAt: Date | null;
  trialStartedAt: Date | null;
  lastReason: string | null;
}

export const closedBreaker = (name: string): BreakerRecord => ({
  name,
  state: 'closed',
  failureTimes: [],
  openedAt: null,
  retryAt: null,
  trialStartedAt: null,
  lastReason: null,
});

const inWindow = (times: Date[], now: Date, p: BreakerPolicy): Date[] =>
  times.filter((t) => now.getTime() - t.getTime() < p.failureWindowMs && t.getTime() <= now.getTime());

export type AdmitDecision =
  | { admitted: true; trial: boolean; next: BreakerRecord }
  | { admitted: false; next: BreakerRecord; retryAt: Date | null; why: string };

export function admit(rec: BreakerRecord, now: Date, p: BreakerPolicy = DEFAULT_BREAKER_POLICY): AdmitDecision {
  switch (rec.state) {
    case 'closed':
      return { admitted: true, trial: false, next: { ...rec, failureTimes: inWindow(rec.failureTimes, now, p) } };
    case 'open':
      if (rec.retryAt && now.getTime() >= rec.retryAt.getTime()) {
        return { admitted: true, trial: true, next: { ...rec, state: 'half_open', trialStartedAt: now } };
      }
      return { admitted: false, next: rec, retryAt: rec.retryAt, why: 'open' };
    case 'half_open': {
      const trialLive = rec.trialStartedAt !== null && now.getTime() - rec.trialStartedAt.getTime() < p.trialTimeoutMs;
      if (trialLive) {
        return { admitted: false, next: rec, retryAt: new Date((rec.trialStartedAt as Date).getTime() + p.trialTimeoutMs), why: 'trial in flight' };
      }
      return { admitted: true, trial: true, next: { ...rec, trialStartedAt: now } };
    }
  }
}

export function onSuccess(rec: BreakerRecord, now: Date, p: BreakerPolicy = DEFAULT_BREAKER_POLICY): BreakerRecord {
  if (rec.state === 'half_open') return { ...closedBreaker(rec.name), lastReason: rec.lastReason };
  // Success while closed does not forgive earlier failures: the breaker counts failures within the window.
  if (rec.state === 'closed') return { ...rec, failureTimes: inWindow(rec.failureTimes, now, p) };
  return rec; // open: a success of something admitted before the breaker opened changes nothing
}

export function onFailure(rec: BreakerRecord, now: Date, reason: string, p: BreakerPolicy = DEFAULT_BREAKER_POLICY): BreakerRecord {
  const reopen = (failures: Date[]): BreakerRecord => ({
    ...rec,
    state: 'open',
    failureTimes: failures,
    openedAt: now,
    retryAt: new Date(now.getTime() + p.recoveryMs),
    trialStartedAt: null,
    lastReason: reason,
  });
  if (rec.state === 'half_open') return reopen([...inWindow(rec.failureTimes, now, p), now]);
  const failures = [...inWindow(rec.failureTimes, now, p), now];
  if (rec.state === 'open') return { ...rec, failureTimes: failures, lastReason: reason };
  return failures.length >= p.maxFailures ? reopen(failures) : { ...rec, failureTimes: failures, lastReason: reason };
}

/** What callers see: an open breaker whose recovery time has passed reports half_open. */
export function statusOf(rec: BreakerRecord, now: Date, p: BreakerPolicy = DEFAULT_BREAKER_POLICY): BreakerStatus {
  const state: BreakerState = rec.state === 'open' && rec.retryAt && now.getTime() >= rec.retryAt.getTime() ? 'half_open' : rec.state;
  return {
    name: rec.name,
    state,
    failures: inWindow(rec.failureTimes, now, p).length,
    openedAt: rec.openedAt,
    retryAt: rec.state === 'closed' ? null : rec.retryAt,
  };
}

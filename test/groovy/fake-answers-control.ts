import type { MethodResult } from '../../catalog/methods/method-spec';
import { trafficAbort, trafficPause, trafficPromote, trafficResume } from '../../catalog/methods/traffic-control';

/**
 * Canned answers of the four traffic-control methods for the fake sidecarctl (kept beside
 * the generated ones, whose example answers say nothing of a build): each typed by its
 * method's result, as the real sidecar answers a build's pause / resume / promote / abort.
 */
export function controlAnswers(team: string, build: string): Record<string, unknown> {
  const base = { operationId: 'op-switch-1', team, by: build, at: '2026-11-27T00:01:00.000Z', taken: true, percent: 25, weights: { blue: 75, green: 25 } };
  const pause = { since: '2026-11-27T00:01:00.000Z', by: build, reason: 'looking at 25%', maxPauseSec: 1800, endsAt: '2026-11-27T00:31:00.000Z' };
  const answers: Array<[string, unknown]> = [
    [trafficPause.name, { ...base, command: 'pause', state: 'paused', reason: 'looking at 25%', pause } satisfies MethodResult<typeof trafficPause>],
    [trafficResume.name, { ...base, command: 'resume', state: 'running', reason: 'fine at 25%', pause: null } satisfies MethodResult<typeof trafficResume>],
    [trafficPromote.name, { ...base, command: 'promote', state: 'promote-requested', reason: 'window closing', pause: null } satisfies MethodResult<typeof trafficPromote>],
    [trafficAbort.name, { ...base, command: 'abort', state: 'abort-requested', reason: 'drill', pause: null } satisfies MethodResult<typeof trafficAbort>],
  ];
  return Object.fromEntries(answers);
}

import { SidecarError } from '../../../sidecar-error';
import { judge, windowFigures, withSynthetic, type SliSample } from '../../sli';
import type { SwitchRun } from '../switch-run';
import { abortSwitch, expirePause, followHold, heldBreach } from './person';
import { startSyntheticRuns } from './synthetic-runs';
import { targetSampler } from './target-sampler';

export interface WindowOutcome {
  verdict: NonNullable<ReturnType<typeof judge>>;
  windowSec: number;
  samples: number;
  /** When the deciding sample was read (ms since epoch). */
  decidedAt: number;
}

/** A window held for hours keeps at most this many samples (each tick judges all of them). */
const HELD_WINDOW_SAMPLES_MAX = 10_000;

/**
 * Halves a long-held window's samples, keeping its first and last: the counters' deltas add up
 * across a dropped sample and HAProxy's rtime mean holds between any two readings
 * (windowMeanResponseMs), so the figures stay those of the whole window.
 */
export function thinOut(samples: SliSample[]): void {
  const kept = samples.filter((_, i) => i === 0 || i === samples.length - 1 || i % 2 === 0);
  samples.splice(0, samples.length, ...kept);
}

/** The window's ends (ms since epoch): each moves later by the time a person held the switch. */
interface WindowEnds {
  window: number;
  extended: number;
  hold: number;
  /** Set while held: when the hold began. */
  heldSince: number | null;
}

function windowEnds(run: SwitchRun, start: number): WindowEnds {
  const { params } = run;
  const extended = start + (params.maxWindowSec ?? params.validationSec * 3) * 1000;
  return { window: start + params.validationSec * 1000, extended, hold: extended + params.holdSec * 1000, heldSince: null };
}

/**
 * A hold interrupts the window's clock: on resume the window gets back the time it had left (so at
 * least that much is watched after the resume) and is judged over every sample since it began, the
 * held ones included (the weights did not change). A promotion ends it at once as a pass.
 */
function followWindowClock(ends: WindowEnds, held: boolean, now: number): void {
  if (held && ends.heldSince === null) ends.heldSince = now;
  if (!held && ends.heldSince !== null) {
    const heldMs = now - ends.heldSince;
    ends.window += heldMs;
    ends.extended += heldMs;
    ends.hold += heldMs;
    ends.heldSince = null;
  }
}

/**
 * One window at `percent`: a sample about every sampleIntervalMs, judged on the window's deltas.
 * Too few requests extend the window up to maxWindowSec, then (onInsufficientSamples 'hold')
 * wait up to holdSec more; the verdict is then whatever the last sample says. While a person
 * holds the switch it keeps sampling and judging breaches (followWindowClock says what a hold
 * does to the window's end).
 */
export async function validateWindow(run: SwitchRun, percent: number): Promise<WindowOutcome> {
  const { deps, ctx, params } = run;
  const sample = targetSampler(run);
  const start = ctx.clock.now().getTime();
  const ends = windowEnds(run, start);
  const samples: SliSample[] = [await sample()];
  const announced = { extension: false, hold: false };
  const synthetic = startSyntheticRuns(run);
  let taken = 1;
  const ended = (verdict: WindowOutcome['verdict'], now: number): WindowOutcome => ({ verdict, windowSec: Math.round((now - start) / 100) / 10, samples: taken, decidedAt: now });
  try {
    for (let tick = 0; tick < 100_000_000; tick += 1) {
      const nextAt = start + (tick + 1) * params.sampleIntervalMs;
      await deps.sleep(Math.max(0, nextAt - ctx.clock.now().getTime()), run.signal);
      await run.checkHalted();
      run.assertNotShuttingDown();
      const said = run.control.checkpoint(run, 'window');
      if (said.kind === 'abort') return abortSwitch(run, said);
      if (said.kind === 'pause-expired') return expirePause(run, said);
      followHold(run, said, 'validating');
      samples.push(await sample());
      taken += 1;
      if (said.kind === 'hold' && samples.length > HELD_WINDOW_SAMPLES_MAX) thinOut(samples);
      const now = ctx.clock.now().getTime();
      followWindowClock(ends, said.kind === 'hold', now);
      const final = now >= ends.window && said.kind === 'continue';
      // The window is not judged a pass before one synthetic transaction has ended (each is bounded by its timeout).
      if (final) await synthetic.settled();
      const figures = withSynthetic(windowFigures(samples), synthetic.outcomes());
      const verdict = judge(run.triggers, figures, params.minSamples, final);
      if (said.kind === 'hold') {
        // Held: judged for breaches only, over the whole window and over its latest validationSec.
        if (verdict?.kind === 'breach') return ended(verdict, now);
        const recent = heldBreach(run, samples, now);
        if (recent) return ended(recent, now);
        continue;
      }
      if (verdict?.kind === 'breach') return ended(verdict, now);
      if (said.kind === 'end-window') {
        if (said.full) run.fullPromotion = true;
        ctx.progress({ phase: `step-${percent}`, message: `window at ${percent}% ended early as a pass: promoted by ${said.by} (${said.reason})${said.full ? '; the next step is 100%' : ''}`, step: percent, figures });
        return ended({ kind: 'pass', figures }, now);
      }
      if (verdict === null) continue;
      if (verdict.kind !== 'insufficient') return ended(verdict, now);
      if (!stillWaiting(run, percent, { ends, start, now, figures, announced })) return ended(verdict, now);
    }
  } finally {
    synthetic.stop();
  }
  throw new SidecarError('TIMEOUT', 'validation window did not end', {});
}

/** Too few requests yet: true while the window may still extend (or hold for traffic), announcing each once. */
function stillWaiting(
  run: SwitchRun,
  percent: number,
  w: { ends: WindowEnds; start: number; now: number; figures: ReturnType<typeof windowFigures>; announced: { extension: boolean; hold: boolean } },
): boolean {
  const { ctx, params } = run;
  const { ends, start, now, figures, announced } = w;
  if (now < ends.extended) {
    if (!announced.extension) {
      announced.extension = true;
      ctx.progress({ phase: `step-${percent}`, message: `window at ${percent}% saw only ${figures.requests} of ${params.minSamples} requests needed; extending up to ${(ends.extended - start) / 1000}s`, step: percent, figures });
    }
    return true;
  }
  if (params.onInsufficientSamples === 'hold' && now < ends.hold) {
    if (!announced.hold) {
      announced.hold = true;
      ctx.progress({ phase: `step-${percent}`, message: `holding at ${percent}%: ${figures.requests} of ${params.minSamples} requests; waiting up to ${params.holdSec}s more for traffic before rolling back`, step: percent, figures });
    }
    return true;
  }
  return false;
}

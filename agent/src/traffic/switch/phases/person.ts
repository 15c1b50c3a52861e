import { SidecarError } from '../../../sidecar-error';
import { describeBreaches, judge, windowFigures, type SliSample, type Verdict } from '../../sli';
import type { ControlDecision, Hold } from '../control';
import type { SwitchRun } from '../switch-run';
import { Aborted } from '../types';
import { rollBack } from './roll-back';
import { targetSampler } from './target-sampler';

type Abort = Extract<ControlDecision, { kind: 'abort' }>;
type Expired = Extract<ControlDecision, { kind: 'pause-expired' }>;
type Breach = Extract<Verdict, { kind: 'breach' }>;

/** A person's abort: with `hold` the weights stay where they are (ends aborted), otherwise a rollback. */
export async function abortSwitch(run: SwitchRun, d: Abort): Promise<never> {
  if (d.hold) throw new Aborted(d.by, d.reason);
  return rollBack(run, { reason: `aborted by ${d.by}: ${d.reason}`, found: null, percent: run.percent, code: 'CONFLICT' });
}

/**
 * Nobody resumed within max_pause_sec: the traffic goes back to the source (not the target's
 * fault, so no breaker failure). Before the first move there is nothing to undo: the switch ends.
 */
export async function expirePause(run: SwitchRun, d: Expired): Promise<never> {
  if (!run.moved) throw new SidecarError('TIMEOUT', `switch of ${run.team} to ${run.target} ended before its first step: ${d.reason}; nothing was moved`, { reason: 'pause_expired', team: run.team, maxPauseSec: d.hold.maxPauseSec });
  return rollBack(run, { reason: d.reason, found: null, percent: heldPercent(run), code: 'TIMEOUT' });
}

/** Where the traffic is while held: the target's share of the weights last applied. */
const heldPercent = (run: SwitchRun): number => run.lastApplied[run.target];

/**
 * Enters or leaves `paused` as the decision says, with a progress line (and the step webhook's
 * paused / resumed event) each time. `resumeTo`: the phase the hold interrupted (the step's move, or the window).
 */
export function followHold(run: SwitchRun, d: ControlDecision, resumeTo: 'stepping' | 'validating'): void {
  const percent = heldPercent(run);
  if (d.kind === 'hold' && run.phase !== 'paused') {
    run.enter('paused');
    const { hold } = d;
    const at = hold.gate !== undefined ? `at the approval gate for ${hold.gate}% (traffic at ${percent}%)` : `at ${percent}%`;
    const limit = hold.maxPauseSec ? `; rolls back if nobody resumes by ${new Date(hold.since.getTime() + hold.maxPauseSec * 1000).toISOString()}` : '';
    run.ctx.progress({ phase: 'paused', message: `paused ${at} by ${hold.by} (${hold.reason}): weights held, SLIs still judged${limit}`, step: percent, by: hold.by, since: hold.since.toISOString(), ...(hold.gate !== undefined ? { gate: hold.gate } : {}) });
    run.notify('paused', { percent, weights: { ...run.lastApplied }, by: hold.by, reason: hold.reason, since: hold.since.toISOString(), ...(hold.gate !== undefined ? { gate: hold.gate } : {}) });
  } else if (d.kind !== 'hold' && d.kind !== 'pause-expired' && run.phase === 'paused') {
    run.enter(resumeTo);
    const how = d.kind === 'end-window' ? `promoted by ${d.by}` : d.kind === 'abort' ? `aborted by ${d.by}` : 'resumed';
    run.ctx.progress({ phase: `step-${percent}`, message: `${how} at ${percent}%`, step: percent });
    run.notify('resumed', { percent, weights: { ...run.lastApplied }, how });
  }
}

/**
 * While held, a breach is looked for over the last validationSec of samples as well as the whole
 * window: a long pause must not dilute a fresh burst of errors into the figures of an hour.
 */
export function heldBreach(run: SwitchRun, samples: readonly SliSample[], now: number): Breach | null {
  const since = now - run.params.validationSec * 1000;
  let from = samples.length - 1;
  while (from > 0 && samples[from - 1]!.at >= since) from -= 1;
  // One sample before the trailing span: its counters are where the span's deltas start.
  const trailing = samples.slice(Math.max(0, from - 1));
  const v = judge(run.triggers, windowFigures(trailing), run.params.minSamples, false);
  return v?.kind === 'breach' ? v : null;
}

/** The rollback a breach while held asks for. */
export function heldBreachCause(run: SwitchRun, v: Breach, detectedAt: number, hold: Hold): Parameters<typeof rollBack>[1] {
  const percent = heldPercent(run);
  return {
    reason: `SLI breach at ${percent}% while paused by ${hold.by}: ${describeBreaches(v.breaches)}`,
    found: v.breaches,
    percent,
    figures: v.figures,
    code: 'SLI_BREACH',
    detectedAt,
  };
}

/**
 * Before a step's move: waits while a person (or an approval gate) holds the switch. The weights
 * stay; when the target already has traffic it is sampled and judged meanwhile as in a window
 * (a breach rolls back), an emergency stop, a shutdown, a lost lock or an expired pause still end it.
 * Then says how to go on.
 */
export async function checkpointBeforeStep(run: SwitchRun): Promise<Exclude<ControlDecision, { kind: 'hold' | 'pause-expired' }>> {
  let watch: { sample: () => Promise<SliSample>; samples: SliSample[] } | null = null;
  for (let i = 0; i < 100_000_000; i += 1) {
    const d = run.control.checkpoint(run, 'step');
    if (d.kind === 'abort') return abortSwitch(run, d);
    if (d.kind === 'pause-expired') return expirePause(run, d);
    followHold(run, d, 'stepping');
    if (d.kind !== 'hold') return d;
    if (!watch && heldPercent(run) > 0) {
      const sample = targetSampler(run);
      watch = { sample, samples: [await sample()] };
    }
    await run.deps.sleep(run.params.sampleIntervalMs, run.signal);
    await run.checkHalted();
    run.assertNotShuttingDown();
    await run.checkFence();
    if (watch) {
      watch.samples.push(await watch.sample());
      const now = run.ctx.clock.now().getTime();
      const breach = heldBreach(run, watch.samples, now);
      if (breach) return rollBack(run, heldBreachCause(run, breach, now, d.hold));
      // Only the trailing span is judged here: older samples are let go.
      if (watch.samples.length > 2 * Math.ceil((run.params.validationSec * 1000) / run.params.sampleIntervalMs) + 2) watch.samples.shift();
    }
  }
  throw new Error('internal: a paused switch waited past its bound');
}

import type { ControlDecision } from '../control';
import type { SwitchRun } from '../switch-run';
import { Aborted } from '../types';
import { rollBack } from './roll-back';

type Abort = Extract<ControlDecision, { kind: 'abort' }>;

/** A person's abort: with `hold` the weights stay where they are (ends aborted), otherwise a rollback. */
export async function abortSwitch(run: SwitchRun, d: Abort): Promise<never> {
  if (d.hold) throw new Aborted(d.by, d.reason);
  return rollBack(run, { reason: `aborted by ${d.by}: ${d.reason}`, found: null, percent: run.percent, code: 'CONFLICT' });
}

/**
 * Enters or leaves `paused` as the decision says, with a progress line each time.
 * `resumeTo`: the phase the hold interrupted (the step's move, or the window).
 */
export function followHold(run: SwitchRun, d: ControlDecision, resumeTo: 'stepping' | 'validating'): void {
  const percent = run.percent;
  if (d.kind === 'hold' && run.phase !== 'paused') {
    run.enter('paused');
    run.ctx.progress({ phase: 'paused', message: `paused at ${percent ?? 0}% by ${d.hold.by} (${d.hold.reason}): weights held, SLIs still judged`, step: percent, by: d.hold.by, since: d.hold.since.toISOString() });
  } else if (d.kind !== 'hold' && run.phase === 'paused') {
    run.enter(resumeTo);
    run.ctx.progress({ phase: `step-${percent ?? 0}`, message: `resumed at ${percent ?? 0}%`, step: percent });
  }
}

/**
 * Before a step's move: waits while a person holds the switch (the weights stay; an emergency
 * stop or a shutdown still ends it), then says how to go on.
 */
export async function checkpointBeforeStep(run: SwitchRun): Promise<Exclude<ControlDecision, { kind: 'hold' }>> {
  for (let i = 0; i < 1_000_000; i += 1) {
    const d = run.control.checkpoint(run, 'step');
    if (d.kind === 'abort') return abortSwitch(run, d);
    followHold(run, d, 'stepping');
    if (d.kind !== 'hold') return d;
    await run.deps.sleep(run.params.sampleIntervalMs, run.signal);
    await run.checkHalted();
    run.assertNotShuttingDown();
    await run.checkFence();
  }
  throw new Error('internal: a paused switch waited past its bound');
}

import { switchSteps } from '../../../../../catalog/methods/traffic';
import { JOURNAL_STEP } from '../../journal-steps';
import { describeBreaches, judge, windowFigures, withSynthetic, type SliSample } from '../../sli';
import type { ControlDecision, Hold } from '../control';
import type { SwitchRun } from '../switch-run';
import { abortSwitch, expirePause } from './person';
import { rollBack } from './roll-back';
import { startSyntheticRuns } from './synthetic-runs';
import { targetSampler } from './target-sampler';

/** Who holds a switch at an approval gate, as the journal, status and audit name it. */
export const GATE_HOLDER = 'approval gate';

/** Whether the step about to move to `percent` waits for approval (a full promotion by a person passes every gate). */
export function isGated(run: SwitchRun, percent: number): boolean {
  return !run.fullPromotion && switchSteps(run.params).some((s) => s.percent === percent && s.approve);
}

/**
 * An approval gate before the step to `percent`: the switch pauses itself (a `control` pause in
 * its journal with `gate`, so every sidecar, status and a restarted sidecar see who holds it),
 * says how to approve, and waits until traffic.resume / traffic.promote (go on) or traffic.abort.
 *
 * Meanwhile the weights stay where the previous step left them and that step's traffic is still
 * judged: a sample every sampleIntervalMs, over the last validationSec, for breaches only (the
 * previous window already passed; too little traffic while waiting proves nothing, so a gate
 * never ends `insufficient`). A breach rolls back as in a window. Before the first move the
 * target has no traffic and nothing is judged.
 */
export async function awaitGate(run: SwitchRun, percent: number): Promise<Exclude<ControlDecision, { kind: 'hold' | 'pause-expired' }>> {
  const hold = await holdAtGate(run, percent);
  const watch = hold && run.moved ? gateWatch(run) : null;
  try {
    for (let i = 0; i < 1_000_000; i += 1) {
      const d = run.control.checkpoint(run, 'step');
      if (d.kind === 'abort') return await abortSwitch(run, d);
      // Nobody answered within the max pause (the hold's, else the team's progressive_traffic.max_pause_sec).
      if (d.kind === 'pause-expired') return await expirePause(run, d);
      if (d.kind !== 'hold') {
        run.enter('stepping');
        run.ctx.progress({ phase: `step-${percent}`, message: `approval gate before the ${percent}% step passed: ${d.kind === 'end-window' ? `promoted by ${d.by} (${d.reason})` : 'resumed'}`, step: percent, gate: percent });
        return d;
      }
      await run.deps.sleep(run.params.sampleIntervalMs, run.signal);
      await run.checkHalted();
      run.assertNotShuttingDown();
      await run.checkFence();
      await watch?.judgeNext(d.hold);
    }
  } finally {
    watch?.stop();
  }
  throw new Error('internal: an approval gate waited past its bound');
}

/**
 * Puts the control into paused at the gate, journals it like a person's pause and tells the caller
 * how to approve. A switch already held (a person's pause, or this gate's hold resumed after a
 * restart) keeps its hold, journaled once; null when a person's promotion or abort already stands.
 */
async function holdAtGate(run: SwitchRun, percent: number): Promise<Hold | null> {
  const { ctx, team, opId } = run;
  const since = ctx.clock.now();
  const held = run.control.awaitApproval({ by: GATE_HOLDER, reason: `waiting for approval before the ${percent}% step`, since, gate: percent });
  if (!held) return null;
  const { hold } = held;
  if (held.fresh) {
    const { journal } = run.deps.store;
    const seq = await journal.intent(opId, JOURNAL_STEP.control, { verb: 'pause', by: hold.by, reason: hold.reason, at: hold.since.toISOString(), maxPauseSec: hold.maxPauseSec ?? null, gate: percent });
    await journal.outcome(opId, seq, 'done', { state: 'paused' });
  }
  if (run.phase !== 'paused') run.enter('paused');
  const params = JSON.stringify({ team, operationId: opId, reason: 'approved' });
  const limit = hold.maxPauseSec ? `without either it rolls back ${hold.maxPauseSec}s after ${hold.since.toISOString()}` : 'it waits without a limit';
  ctx.progress({
    phase: 'awaiting_approval',
    message:
      `waiting for approval before the ${percent}% step: weights held at ${run.lastApplied[run.target]}% on ${run.target}, that traffic still judged; ` +
      `approve with \`sidecarctl resume --team ${team} --reason approved\` or \`sidecarctl call traffic.resume --params '${params}'\` (RPC traffic.resume), reject with traffic.abort; ${limit}`,
    step: percent,
    gate: percent,
    weights: { ...run.lastApplied },
    by: hold.by,
    since: hold.since.toISOString(),
    approve: { rpc: 'traffic.resume', params: { team, operationId: opId } },
    reject: { rpc: 'traffic.abort', params: { team, operationId: opId } },
  });
  return hold;
}

/** The held step's traffic, sampled and judged for breaches over a sliding window of validationSec. */
function gateWatch(run: SwitchRun): { judgeNext(hold: Hold): Promise<void>; stop(): void } {
  const sample = targetSampler(run);
  const synthetic = startSyntheticRuns(run);
  let samples: SliSample[] = [];
  return {
    async judgeNext(hold) {
      const s = await sample();
      const windowStart = s.at - run.params.validationSec * 1000;
      samples = [...samples.filter((x) => x.at >= windowStart), s];
      if (samples.length < 2) return;
      const figures = withSynthetic(windowFigures(samples), synthetic.outcomes());
      const verdict = judge(run.triggers, figures, run.params.minSamples, false);
      if (verdict?.kind !== 'breach') return;
      const percent = run.lastApplied[run.target];
      await rollBack(run, {
        reason: `SLI breach at ${percent}% while waiting at the approval gate of the ${hold.gate}% step: ${describeBreaches(verdict.breaches)}`,
        found: verdict.breaches,
        percent,
        figures,
        code: 'SLI_BREACH',
        detectedAt: s.at,
      });
    },
    stop: () => synthetic.stop(),
  };
}

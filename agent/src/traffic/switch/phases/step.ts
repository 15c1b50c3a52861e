import { isServerUp } from '../../../haproxy/stats';
import { JOURNAL_STEP } from '../../journal-steps';
import { journaledStep } from '../../journaled-step';
import { describeBreaches, stuck, type WindowFigures } from '../../sli';
import { splitWeights, type Weights } from '../../team-backends';
import type { SwitchRun } from '../switch-run';
import { awaitGate, isGated } from './gate';
import { checkpointBeforeStep } from './person';
import { rollBack } from './roll-back';
import { validateWindow, type WindowOutcome } from './validate-window';

/** One increment: move both weights to `percent`, validate its window, roll back on anything but a pass. */
export async function runStep(run: SwitchRun, planned: number): Promise<void> {
  const { ctx, team, target, tb } = run;
  run.enter('stepping');
  run.percent = planned;
  await run.checkHalted();
  run.assertNotShuttingDown();
  await run.checkFence();
  // An approval gate holds the step until a person lets it move (gate.ts); otherwise a person's pause may.
  const said = isGated(run, planned) ? await awaitGate(run, planned) : await checkpointBeforeStep(run);
  if (said.kind === 'end-window' && said.full) run.fullPromotion = true;
  const percent = run.fullPromotion ? 100 : planned;
  run.percent = percent;
  const weights = splitWeights(target, percent);
  // Never lower the old side while the target is not UP.
  const ts = await run.targetStat();
  if (!isServerUp(ts)) return rollBack(run, { reason: `target ${tb.servers[target]} is ${ts.status} before the ${percent}% step`, found: null, percent });
  await run.move(weights, { name: JOURNAL_STEP.weights, step: percent, from: run.lastApplied, reason: 'progressive step' });
  ctx.progress({ phase: `step-${percent}`, message: `${percent}% of new ${team} sessions on ${target} (signed-in people stay on the controller that has their session until the final cut)`, step: percent, weights });
  run.notify('step', { percent, weights });
  await run.hooks.stepApplied(run, percent);

  run.enter('validating');
  await validateStep(run, percent, weights);
}

/** `percent`'s window on the weights it moved to: a pass goes on, anything else rolls back. A resumed run starts here too. */
export async function validateStep(run: SwitchRun, percent: number, weights: Weights): Promise<void> {
  const { ctx } = run;
  const outcome = await journaledStep(run.deps.store.journal, run.opId, JOURNAL_STEP.validate, { step: percent, validationSec: run.params.validationSec }, async () => {
    const o = await validateWindow(run, percent);
    run.steps.push({ percent, weights, windowSec: o.windowSec, verdict: o.verdict.kind, figures: o.verdict.figures, samples: o.samples });
    return { value: o, outcome: o.verdict.kind === 'pass' ? 'done' : 'failed', result: { step: percent, verdict: o.verdict.kind, figures: o.verdict.figures as unknown as Record<string, unknown> } };
  });
  if (outcome.verdict.kind !== 'pass') return rollBack(run, judgedCause(run, percent, outcome));
  ctx.progress({ phase: `step-${percent}`, message: `${percent}% validated: ${summarise(outcome.verdict.figures)}`, step: percent, figures: outcome.verdict.figures });
  await run.hooks.stepValidated(run, percent, outcome.verdict.figures);
}

/** Why a window that did not pass rolls back: a breach, or too little traffic to judge. */
function judgedCause(run: SwitchRun, percent: number, outcome: WindowOutcome): Parameters<typeof rollBack>[1] {
  const { verdict, windowSec } = outcome;
  if (verdict.kind === 'breach') {
    return { reason: `SLI breach at ${percent}%: ${describeBreaches(verdict.breaches)}`, found: verdict.breaches, percent, figures: verdict.figures, code: 'SLI_BREACH', detectedAt: outcome.decidedAt };
  }
  const reason = stuck(verdict.figures)
    ? `${run.target} answered none of its requests at ${percent}% in ${windowSec}s while holding ${verdict.figures.held} sessions; not enough to judge`
    : `only ${verdict.figures.requests} requests reached ${run.target} at ${percent}% in ${windowSec}s (minSamples ${run.params.minSamples}); not enough to judge`;
  return { reason, found: null, percent, figures: verdict.figures, code: 'TIMEOUT' };
}

function summarise(f: WindowFigures): string {
  const people = `${f.sessionRequests} from signed-in people (${f.sessionErrors} crumb refusals or lost sessions)`;
  const synthetic = f.synthetic ? `, ${f.synthetic.runs} synthetic Jenkins transactions passed` : ', no synthetic check (no jenkins_token_file or SIDECAR_HAPROXY_FRONTEND)';
  return `${f.requests} requests (${people}), error rate ${f.errorRate}%, response time ${f.responseTimeMs ?? '-'} ms, availability ${f.availability}%${synthetic}`;
}

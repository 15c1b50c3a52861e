import { JOURNAL_STEP } from '../../journal-steps';
import { done, journaledStep } from '../../journaled-step';
import type { SwitchRun } from '../switch-run';
import { breakerNameFor, type SwitchResult } from '../types';
import type { Drained } from './drain-old';

/**
 * The target becomes the team's active side in environment_state, then the
 * breaker's success and the audit record. The switch counts as promoted only
 * once all of them are written: a failure before that still rolls back.
 * The promoted hooks run between the promotion and the records.
 */
export async function promote(run: SwitchRun, drained: Drained): Promise<SwitchResult> {
  const { deps, ctx, team, target, source } = run;
  const { store } = deps;
  await run.checkHalted();
  run.enter('promoting');
  await journaledStep(store.journal, run.opId, JOURNAL_STEP.promote, { active: target, previous: source }, async () => {
    await store.environments.promote(team, target);
    return done(undefined, { active: target });
  });
  // The hooks (agents and triggers follow the target) run before the record, so that what they did is in it.
  await run.hooks.promoted(run);
  await store.breakers.recordSuccess(breakerNameFor(team));
  await store.audit.record({
    operationType: 'traffic.switch',
    team,
    sourceEnvironment: source,
    targetEnvironment: target,
    initiatedBy: run.initiatedBy,
    status: 'promoted',
    metadata: { steps: run.steps, ...(run.report.agents !== undefined ? { agents: run.report.agents } : {}) },
    actor: ctx.actor,
    operationId: run.opId,
    completedAt: ctx.clock.now(),
  });
  run.notify('promoted', { active: target });
  ctx.progress({ phase: 'done', message: `${team} promoted to ${target}` });
  run.enter('promoted');
  return { status: 'promoted', from: source, to: target, steps: run.steps, drained, ...run.report.forResult() };
}

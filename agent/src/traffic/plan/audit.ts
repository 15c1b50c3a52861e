import type { Actor, AuditLog } from '../../store/contract';
import type { TrafficLog } from '../unconfigured';
import type { PlanParams, SwitchPlan } from './plan-switch';

/**
 * The one row a plan writes: who asked for which switch, and the verdict. traffic.plan is a
 * read (the dispatcher audits mutating calls only), yet a person looking at what a switch
 * would do before doing it is part of the story the audit trail tells. A plan that could not
 * be made is recorded as a FAILURE with the error. A failed write is logged, not fatal.
 */
export async function recordPlanRequest(audit: AuditLog, log: TrafficLog, p: PlanParams, actor: Actor, outcome: { plan: SwitchPlan } | { error: unknown }): Promise<void> {
  const verdict =
    'plan' in outcome
      ? { wouldStart: outcome.plan.wouldStart, blockers: outcome.plan.blockers.map((b) => b.check), warnings: outcome.plan.warnings.map((w) => w.check) }
      : { error: { message: String((outcome.error as Error)?.message ?? outcome.error).slice(0, 1_000) } };
  try {
    await audit.record({
      operationType: 'traffic.plan',
      team: p.team,
      sourceEnvironment: p.target === 'blue' ? 'green' : 'blue',
      targetEnvironment: p.target,
      initiatedBy: actor.build ?? actor.tokenId,
      status: 'plan' in outcome ? 'SUCCESS' : 'FAILURE',
      metadata: { tokenId: actor.tokenId, build: actor.build ?? null, instanceId: actor.instanceId, params: p, ...verdict },
      actor,
      completedAt: new Date(),
    });
  } catch (err) {
    log.warn('could not write the audit record of a plan', { team: p.team, error: String(err) });
  }
}

import { trafficPlan } from '../../../../catalog/methods/traffic-plan';
import type { TeamDirectory } from '../../config/team-directory';
import { recordPlanRequest } from '../../traffic/plan/audit';
import { planSwitch, type PlanDeps } from '../../traffic/plan/plan-switch';
import { bind, type Handler, type RegisteredMethod } from '../registry';

/**
 * traffic.plan's handler (catalog/methods/traffic-plan.ts): the plan, then its audit row.
 * The dispatcher has checked the token may act on params.team; it writes no row for a read,
 * so the plan request's own row is written here (with the verdict).
 */
export interface TrafficPlanDeps {
  teams: TeamDirectory;
  plan: PlanDeps;
}

export const trafficPlanHandler =
  (deps: TrafficPlanDeps): Handler<typeof trafficPlan> =>
  async (p, call) => {
    deps.teams.require(p.team);
    const { audit } = deps.plan.traffic.store;
    const { log } = deps.plan.traffic;
    try {
      const plan = await planSwitch(deps.plan, p, call.actor);
      await recordPlanRequest(audit, log, p, call.actor, { plan });
      return plan;
    } catch (error) {
      await recordPlanRequest(audit, log, p, call.actor, { error });
      throw error;
    }
  };

export const trafficPlanMethods = (deps: TrafficPlanDeps): RegisteredMethod[] => [bind(trafficPlan, trafficPlanHandler(deps))];

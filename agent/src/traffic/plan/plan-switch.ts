import type { MethodResult } from '../../../../catalog/methods/method-spec';
import type { trafficPlan } from '../../../../catalog/methods/traffic-plan';
import type { TrafficSwitchParams } from '../../../../catalog/methods/traffic';
import { otherEnvironment } from '../../../../catalog/teams-file';
import type { Actor, Clock, OperationRecord } from '../../store/contract';
import type { TrafficDeps } from '../traffic-deps';
import { readSideFacts, type ContainerLookup, type SideFacts } from './side-facts';
import { planDuration, planSteps } from './steps';
import { readStoreFacts } from './store-facts';
import { judgePlan } from './verdict';

/**
 * traffic.plan: everything traffic.switch would check and do, from reads alone
 * (store-facts.ts, side-facts.ts), judged by pure rules (steps.ts, verdict.ts).
 * Nothing here writes: no journal operation, weights, lock, breaker trial or
 * quiet-down. The request's audit row is the handler's (audit.ts).
 */
export type PlanParams = Omit<TrafficSwitchParams, 'lockToken'> & { lockToken?: number | undefined };
export type SwitchPlan = MethodResult<typeof trafficPlan>;

export interface PlanDeps {
  traffic: TrafficDeps;
  /** Docker's view of the controllers (absent without Docker). */
  containers?: ContainerLookup;
  clock: Clock;
}

const summary = (o: OperationRecord) => ({ id: o.id, type: o.type, team: o.team, status: o.status, phase: o.phase, initiatedBy: o.initiatedBy, ownerInstance: o.ownerInstance, startedAt: o.startedAt.toISOString() });

const sideResult = (s: SideFacts, role: 'source' | 'target') => ({ role, ...s });

export async function planSwitch(deps: PlanDeps, p: PlanParams, actor: Actor): Promise<SwitchPlan> {
  const { traffic, clock } = deps;
  const { team, target } = p;
  const source = otherEnvironment(target);
  const config = traffic.teamConfig(team);
  const [store, seen] = await Promise.all([
    readStoreFacts(traffic, { team, lockOperation: p.lockOperation, lockToken: p.lockToken }, clock),
    readSideFacts({ haproxy: traffic.haproxy, teamConfig: traffic.teamConfig, jenkinsFor: traffic.jenkinsFor, ...(deps.containers ? { containers: deps.containers } : {}) }, team, actor.build),
  ]);
  const steps = planSteps(p, target);
  const configured = { targetSync: traffic.targetSync !== undefined, agents: traffic.jenkinsFor !== undefined && config !== undefined, triggers: traffic.triggers !== undefined && config !== undefined, preSwitchWebhook: Boolean(config?.webhooks.preSwitch) };
  const v = judgePlan({ team, source, target, lockToken: p.lockToken, readyTimeoutSec: p.readyTimeoutSec, drainTimeoutSec: p.drainTimeoutSec, syncTarget: p.syncTarget, store, haproxy: seen.haproxy, sides: seen.sides, steps, configured });
  const targetReady = v.prepareTarget.action === 'none';
  const { grant, breaker, consensus, environment: env } = store;
  return {
    team,
    from: source,
    to: target,
    wouldStart: v.blockers.length === 0,
    alreadyActive: v.alreadyActive,
    blockers: v.blockers,
    warnings: v.warnings,
    fence: { lock: store.lock, grant: grant ? { lockName: grant.lockName, token: grant.token, expiresAt: grant.expiresAt.toISOString(), holder: grant.holder } : null, isHolder: store.isHolder },
    breaker: { name: breaker.name, state: breaker.state, failures: breaker.failures, openedAt: breaker.openedAt?.toISOString() ?? null, retryAt: breaker.retryAt?.toISOString() ?? null, wouldAdmit: breaker.wouldAdmit, lastReason: breaker.lastReason },
    consensus: { ...consensus, at: consensus.at?.toISOString() ?? null },
    running: store.running.map(summary),
    environment: { recorded: env.recorded, active: env.active, previous: env.previous, weights: env.weights, lastKnownGood: env.lastKnownGood },
    haproxy: { answered: seen.haproxy.answered, error: seen.haproxy.error, backends: seen.haproxy.tb?.backends ?? [], live: seen.haproxy.live, inSync: seen.haproxy.live ? seen.haproxy.live.blue === env.weights.blue && seen.haproxy.live.green === env.weights.green : null },
    sides: { blue: sideResult(seen.sides.blue, source === 'blue' ? 'source' : 'target'), green: sideResult(seen.sides.green, source === 'green' ? 'source' : 'target') },
    prepareTarget: v.prepareTarget,
    sync: v.sync,
    steps: v.alreadyActive ? [] : steps,
    durationSec: v.alreadyActive ? { min: 0, max: 0 } : planDuration(p, steps, { targetReady, agentsMove: configured.agents }),
    drain: v.drain,
    rollback: v.rollback,
    afterPromotion: v.afterPromotion,
    at: clock.now().toISOString(),
  };
}

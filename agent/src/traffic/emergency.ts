import type { RollbackEmergencyParams } from '../../../catalog/methods/traffic';
import type { OperationContext } from '../store/contract';
import type { TrafficDeps } from './switch';
import { discoverTeamBackends, splitWeights, type Weights } from './team-backends';
import { applyWeights } from './weights';

/**
 * rollback.emergency (and `sidecarctl emergency-stop`): halt the team's
 * in-flight switch, whatever it is doing, and put all traffic on the last known
 * good side (or `target`) at once. The target is set `ready` in the same breath
 * (an old side left in maint takes traffic again); health checks are not waited
 * for: this is the stop button. Audited with the reason.
 */
export interface EmergencyResult {
  active: 'blue' | 'green';
  weights: Weights;
  halted: string | null;
  elapsedMs: number;
}

export async function runEmergencyRollback(deps: TrafficDeps, params: RollbackEmergencyParams, ctx: OperationContext): Promise<EmergencyResult> {
  const started = Date.now();
  const { store, haproxy } = deps;
  const team = params.team;
  const config = deps.teamConfig?.(team);
  const state = await store.environments.ensure(team, config?.active_environment ?? 'blue');
  const target = params.target ?? state.lastKnownGood;
  const weights = splitWeights(target, 100);

  // In this process: stop the switch before it can touch HAProxy again. In other
  // sidecars the switch sees its desired weights change below and halts itself.
  const halted = (await deps.inFlight?.halt(team, `emergency rollback: ${params.reason}`, 300)) ?? null;
  const { backends: tb } = await discoverTeamBackends(haproxy, team, config);
  await applyWeights(
    { haproxy, journal: store.journal, environments: store.environments },
    ctx.operation.id,
    tb,
    weights,
    { name: 'emergency-weights', reason: params.reason, target, halted },
    () => haproxy.setState(tb.web, tb.servers[target], 'ready'),
  );
  const elapsedMs = Date.now() - started;
  ctx.progress({ phase: 'done', message: `emergency rollback: all ${team} traffic on ${target} after ${elapsedMs} ms`, responseMs: elapsedMs });

  if (state.active !== target) await store.environments.promote(team, target);
  // Other sidecars' switches of this team: the journal says which ones were running.
  const running = (await store.journal.list({ team, status: 'running' })).filter((o) => o.type === 'traffic.switch' && o.id !== ctx.operation.id).map((o) => o.id);
  await store.audit.record({
    operationType: 'rollback.emergency',
    team,
    sourceEnvironment: state.active,
    targetEnvironment: target,
    initiatedBy: ctx.actor.build ?? ctx.actor.tokenId,
    status: 'completed',
    rollbackReason: params.reason,
    metadata: { weights, halted, runningSwitches: running, elapsedMs },
    actor: ctx.actor,
    operationId: ctx.operation.id,
    completedAt: ctx.clock.now(),
  });
  return { active: target, weights, halted, elapsedMs };
}

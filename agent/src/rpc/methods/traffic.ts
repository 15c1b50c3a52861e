import { TRAFFIC_METHODS, type RollbackEmergencyParams, type TrafficSwitchParams } from '../../../../catalog/methods/traffic';
import type { TeamDirectory } from '../../config/team-directory';
import type { OperationRunner } from '../../operations/runner';
import { runEmergencyRollback } from '../../traffic/emergency';
import { trafficStatus } from '../../traffic/status';
import { runTrafficSwitch, type TrafficDeps } from '../../traffic/switch';
import { specNamed, type MethodRegistry } from '../registry';
import { runJournaled } from './run-journaled';

/**
 * Handlers of the traffic methods: validate (done by the dispatcher), run one
 * operation under the journal, return its result. One switch per team at a
 * time (`exclusive`); an emergency rollback is never blocked by a switch.
 */
export interface TrafficMethodDeps {
  runner: OperationRunner;
  teams: TeamDirectory;
  traffic: TrafficDeps;
}

const spec = (name: string) => specNamed(TRAFFIC_METHODS, name);

export function registerTrafficMethods(registry: MethodRegistry, deps: TrafficMethodDeps): void {
  const { runner, teams, traffic } = deps;

  registry.register(spec('traffic.switch'), async (p, call) => {
    const params = p as TrafficSwitchParams;
    teams.require(params.team);
    // Check the fencing token before claiming the team's one-switch slot: otherwise a caller with a
    // stale or guessed token could hold the slot for a moment and make the lock holder's own switch
    // fail with CONFLICT. A retried call (idempotencyKey) goes on, to re-attach to its operation.
    try {
      await traffic.store.locks.assertHeld({ team: params.team, operation: params.lockOperation, token: params.lockToken });
    } catch (err) {
      if (!call.idempotencyKey) throw err;
    }
    return runJournaled(runner, call, params.team, params, (ctx) => runTrafficSwitch(traffic, params, ctx), `traffic.switch:${params.team}`);
  });

  registry.register(spec('rollback.emergency'), async (p, call) => {
    const params = p as RollbackEmergencyParams;
    teams.require(params.team);
    return runJournaled(runner, call, params.team, params, (ctx) => runEmergencyRollback(traffic, params, ctx));
  });

  registry.register(spec('traffic.status'), async (p) => {
    const { team } = p as { team: string };
    teams.require(team);
    return trafficStatus(traffic, team);
  });
}

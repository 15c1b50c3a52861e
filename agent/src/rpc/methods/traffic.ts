import { rollbackEmergency, trafficStatus as trafficStatusSpec, trafficSwitch } from '../../../../catalog/methods/traffic';
import type { TeamDirectory } from '../../config/team-directory';
import type { OperationRunner } from '../../operations/runner';
import type { OperationContext, OperationRecord, OperationStatus } from '../../store/contract';
import type { OwedOperationRow } from '../../traffic/deferred-writes';
import { runEmergencyRollback } from '../../traffic/emergency';
import type { LastReadEnvironments } from '../../traffic/last-read-state';
import { trafficStatus } from '../../traffic/status';
import { runTrafficSwitch, type TrafficDeps } from '../../traffic/switch';
import type { SwitchControls } from '../../traffic/switch-control';
import { bind, type Handler, type MethodRegistry, type RegisteredMethod } from '../registry';
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
  /** Each team's environment_state as last read (rollback.emergency's target while Postgres is unreachable). */
  lastRead?: LastReadEnvironments;
  /** The running switches a person can pause, resume, promote or abort (traffic-control.ts). */
  controls?: SwitchControls;
}

/** A healthy journal begins an operation in milliseconds; the answer timeout (10 s) is too long for the stop button. */
const EMERGENCY_BEGIN_WITHIN_MS = 2_000;

export const trafficSwitchHandler =
  ({ runner, teams, traffic, controls }: TrafficMethodDeps): Handler<typeof trafficSwitch> =>
  async (params, call) => {
    teams.require(params.team);
    // Check the fencing token before claiming the team's one-switch slot: otherwise a caller with a
    // stale or guessed token could hold the slot for a moment and make the lock holder's own switch
    // fail with CONFLICT. A retried call (idempotencyKey) goes on, to re-attach to its operation.
    try {
      await traffic.store.locks.assertHeld({ team: params.team, operation: params.lockOperation, token: params.lockToken });
    } catch (err) {
      if (!call.idempotencyKey) throw err;
    }
    return runJournaled(runner, call, params.team, params, (ctx) => runTrafficSwitch(traffic, params, ctx, controls ? { control: controls.attach(params.team, ctx.operation.id) } : {}), `traffic.switch:${params.team}`);
  };

// The stop button works exactly when things are broken: with the journal unreachable the runner runs
// it under a local id and the records (its row first) are owed to the team's DeferredWrites queue.
// No idempotency-key dedupe then (the key lives in the journal): a repeated call repeats the same move.
export const rollbackEmergencyHandler =
  ({ runner, teams, traffic, lastRead }: TrafficMethodDeps): Handler<typeof rollbackEmergency> =>
  async (params, call) => {
    teams.require(params.team);
    const { deferred } = traffic;
    const opts = lastRead ? { lastRead } : {};
    const withoutJournal = deferred.canOwe
      ? {
          body: (ctx: OperationContext) => runEmergencyRollback(traffic, params, ctx, { ...opts, journalDown: true }),
          // The stop button does not wait out a partition: a journal silent this long is treated as down.
          beginWithinMs: EMERGENCY_BEGIN_WITHIN_MS,
          records: {
            begin: (op: OwedOperationRow) => deferred.beginOperation(params.team, op),
            finish: (id: string, status: Exclude<OperationStatus, 'running'>, result: unknown, error: OperationRecord['error']) => deferred.finish(params.team, id, status, error, result),
          },
        }
      : undefined;
    return runJournaled(runner, call, params.team, params, (ctx) => runEmergencyRollback(traffic, params, ctx, opts), undefined, withoutJournal);
  };

export const trafficStatusHandler =
  ({ teams, traffic }: TrafficMethodDeps): Handler<typeof trafficStatusSpec> =>
  async ({ team }) => {
    teams.require(team);
    return trafficStatus(traffic, team);
  };

/** The traffic area's methods, each spec with its handler. */
export const trafficMethods = (deps: TrafficMethodDeps): RegisteredMethod[] => [
  bind(trafficSwitch, trafficSwitchHandler(deps)),
  bind(rollbackEmergency, rollbackEmergencyHandler(deps)),
  bind(trafficStatusSpec, trafficStatusHandler(deps)),
];

export function registerTrafficMethods(registry: MethodRegistry, deps: TrafficMethodDeps): void {
  registry.add(...trafficMethods(deps));
}

import type { EnvironmentName } from '../../../../catalog/teams-file';
import type { BreakerStatus, Clock, LockGrant, OperationRecord, TeamEnvironmentState } from '../../store/contract';
import { lockNameFor } from '../../store/contract';
import type { TrafficDeps } from '../traffic-deps';
import { breakerNameFor } from '../switch/types';

/**
 * What Postgres says before a switch, read without a write: the fence (the live
 * grant of the lock), the breaker (its status, never admit(): that would take
 * the half-open trial), the latest consensus decision, the team's running
 * operations and environment_state (get, never ensure(): that creates the row).
 */
export interface StoreFacts {
  lock: string;
  grant: LockGrant | null;
  /** null: no lockToken given. */
  isHolder: boolean | null;
  breaker: BreakerStatus & { lastReason: string | null; wouldAdmit: 'yes' | 'no' | 'as-trial' };
  consensus: { state: 'none' | 'pending' | 'approved' | 'denied'; operation: string | null; operationId: string | null; at: Date | null; reason: string | null };
  running: OperationRecord[];
  environment: TeamEnvironmentState & { recorded: boolean };
}

/** How many of the team's latest operations are looked through for the last consensus decision. */
const RECENT_OPERATIONS = 50;

export async function readStoreFacts(
  deps: Pick<TrafficDeps, 'store' | 'teamConfig'>,
  req: { team: string; lockOperation: string; lockToken?: number | undefined },
  clock: Clock,
): Promise<StoreFacts> {
  const { store } = deps;
  const { team } = req;
  const lock = lockNameFor(team, req.lockOperation);
  const [grants, breaker, recent, running, state] = await Promise.all([
    store.locks.list({ team }),
    store.breakers.status(breakerNameFor(team)),
    store.journal.list({ team, limit: RECENT_OPERATIONS }),
    store.journal.list({ team, status: 'running' }),
    store.environments.get(team),
  ]);
  // list() answers live grants only (expires_at > now()).
  const grant = grants.find((g) => g.lockName === lock) ?? null;
  return {
    lock,
    grant,
    isHolder: req.lockToken === undefined ? null : grant?.token === req.lockToken,
    breaker: { ...breaker, lastReason: 'lastReason' in breaker && typeof breaker.lastReason === 'string' ? breaker.lastReason : null, wouldAdmit: wouldAdmit(breaker, clock.now()) },
    consensus: latestConsensus(recent),
    running,
    environment: state ? { ...state, recorded: true } : unrecorded(team, deps.teamConfig(team)?.active_environment ?? 'blue', clock.now()),
  };
}

/**
 * admit() read from the status alone (store/breaker-logic.ts): closed admits; open refuses until
 * retryAt; past it (status says half_open) the next switch is the one trial, unless a trial is
 * already in flight, which the status does not show.
 */
function wouldAdmit(s: BreakerStatus, now: Date): 'yes' | 'no' | 'as-trial' {
  if (s.state === 'closed') return 'yes';
  if (s.state === 'open') return s.retryAt && now.getTime() >= s.retryAt.getTime() ? 'as-trial' : 'no';
  return 'as-trial';
}

/** consensus.request runs under the journal (rpc/methods/core.ts): running = votes pending, else its result says. */
function latestConsensus(recent: OperationRecord[]): StoreFacts['consensus'] {
  const op = recent.find((o) => o.type === 'consensus.request');
  if (!op) return { state: 'none', operation: null, operationId: null, at: null, reason: null };
  const operation = typeof op.params.operation === 'string' ? op.params.operation : null;
  const result = (op.result ?? {}) as { approved?: unknown; reason?: unknown };
  const state = op.status === 'running' ? 'pending' : result.approved === true ? 'approved' : 'denied';
  const reason = typeof result.reason === 'string' ? result.reason : (op.error?.message ?? null);
  return { state, operation, operationId: op.id, at: op.completedAt ?? op.startedAt, reason };
}

/** What ensure() would create: all traffic on the teams file's active side. */
function unrecorded(team: string, active: EnvironmentName, now: Date): StoreFacts['environment'] {
  const weights = active === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 };
  return { team, active, previous: null, weights, lastKnownGood: active, updatedAt: now, recorded: false };
}

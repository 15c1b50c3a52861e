import type { BreakerStore, OperationJournal } from '../store/contract';

/**
 * What a sidecar knows when it votes. The Voter asks through this interface so
 * the sidecar process decides where the facts come from (tests pass their own).
 */
export interface ProposalView {
  proposalId: string;
  operation: string;
  team: string | null;
  details: Record<string, unknown>;
  proposer: string;
  /** Who may vote (live at proposal time), when the store says. */
  eligible?: string[];
}

export interface LocalFacts {
  /** Names of breakers that are not closed and concern this proposal's team (or all teams). */
  openBreakers(proposal: ProposalView): Promise<string[]>;
  /** A running operation that conflicts with the proposal, or null. */
  conflictingOperation(proposal: ProposalView): Promise<{ id: string; type: string } | null>;
  /** Dependencies of THIS sidecar that are down, each as "name: why". */
  unhealthyDependencies(): Promise<string[]>;
}

/**
 * Operation types that never conflict with a proposal: asking for consensus is
 * itself journaled, and reads/attachments change nothing.
 */
const NON_CONFLICTING = new Set(['consensus.request', 'operation.attach', 'operation.get', 'leadership.establish', 'lock.acquire', 'lock.release', 'lock.renew', 'coordination.update']);

/**
 * Facts from the shared store plus this host's dependency probes. A breaker
 * concerns the team when it is named `<kind>:<team>` or has no team suffix.
 * `details.operationId` on a proposal names the operation it belongs to, which
 * is therefore not a conflict.
 */
export function storeLocalFacts(deps: {
  breakers: Pick<BreakerStore, 'list'>;
  journal: Pick<OperationJournal, 'list'>;
  /** e.g. { haproxy: () => runtime.ping(), docker: () => docker.ping() }; a rejection is "unhealthy". */
  probes?: Record<string, () => Promise<unknown>>;
  probeTimeoutMs?: number;
}): LocalFacts {
  const timeoutMs = deps.probeTimeoutMs ?? 3_000;
  return {
    async openBreakers(p) {
      const all = await deps.breakers.list();
      return all
        .filter((b) => b.state !== 'closed')
        .filter((b) => !b.name.includes(':') || (p.team !== null && b.name.endsWith(`:${p.team}`)) || p.team === null)
        .map((b) => b.name);
    },
    async conflictingOperation(p) {
      if (p.team === null) return null;
      const own = typeof p.details.operationId === 'string' ? p.details.operationId : null;
      const running = await deps.journal.list({ team: p.team, status: 'running', limit: 50 });
      const hit = running.find((op) => op.id !== own && !NON_CONFLICTING.has(op.type));
      return hit ? { id: hit.id, type: hit.type } : null;
    },
    async unhealthyDependencies() {
      const entries = Object.entries(deps.probes ?? {});
      const results = await Promise.all(
        entries.map(async ([name, probe]) => {
          let timer: NodeJS.Timeout | undefined;
          try {
            await Promise.race([
              probe(),
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
              }),
            ]);
            return null;
          } catch (err) {
            return `${name}: ${(err as Error).message}`;
          } finally {
            clearTimeout(timer);
          }
        }),
      );
      return results.filter((r): r is string => r !== null);
    },
  };
}

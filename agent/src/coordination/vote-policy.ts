/**
 * How a sidecar votes on a proposal, pure: from the facts it sees locally.
 * Any open breaker, a conflicting running operation or an unhealthy dependency
 * is a "no", and the reason names every one of them so the denial is actionable.
 */
export interface VoteFacts {
  openBreakers: string[];
  conflicting: { id: string; type: string } | null;
  unhealthyDependencies: string[];
}

export function decideVote(facts: VoteFacts): { approve: boolean; reason: string } {
  const problems: string[] = [];
  if (facts.openBreakers.length) problems.push(`circuit breaker ${facts.openBreakers.join(', ')} open`);
  if (facts.conflicting) problems.push(`conflicting operation ${facts.conflicting.id} (${facts.conflicting.type}) is running`);
  if (facts.unhealthyDependencies.length) problems.push(`dependencies unhealthy: ${facts.unhealthyDependencies.join(', ')}`);
  if (problems.length) return { approve: false, reason: problems.join('; ') };
  return { approve: true, reason: 'no open breakers, no conflicting operation, dependencies healthy' };
}

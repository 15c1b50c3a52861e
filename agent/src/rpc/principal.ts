/**
 * The identity behind a bearer token: its id from the tokens file and the teams
 * it may act on (`*` = ops, every team).
 */
export interface Principal {
  tokenId: string;
  teams: readonly string[];
}

export const isOps = (p: Principal): boolean => p.teams.includes('*');

export const mayActOn = (p: Principal, team: string): boolean => isOps(p) || p.teams.includes(team);

/** For listings: which teams' rows a principal may see (undefined = all). */
export const visibleTeams = (p: Principal): ReadonlySet<string> | undefined => (isOps(p) ? undefined : new Set(p.teams));

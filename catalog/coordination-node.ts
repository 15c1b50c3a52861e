import type { Team } from './teams-file';

/**
 * Name of the coordination agent's node on each of a team's controllers
 * (`nodes/<name>/config.xml` in its home). library-gen declares it in the
 * team's jenkins.yaml; a state migration leaves it out, since each controller
 * keeps its own (its remoteFS is per environment).
 */
export const coordinationNodeName = (team: Pick<Team, 'team_name'>): string => `${team.team_name}-coordination`;

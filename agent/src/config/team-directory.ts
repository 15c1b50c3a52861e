import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { SidecarError } from '../sidecar-error';

/**
 * The teams this sidecar serves, from SIDECAR_TEAMS_FILE. Without a teams file
 * (local try-out) every well-formed team name is accepted and starts on blue.
 */
export class TeamDirectory {
  private readonly byName: ReadonlyMap<string, Team> | null;

  constructor(teams: readonly Team[] | null) {
    this.byName = teams ? new Map(teams.map((t) => [t.team_name, t])) : null;
  }

  get configured(): boolean {
    return this.byName !== null;
  }

  list(): Team[] {
    return this.byName ? [...this.byName.values()] : [];
  }

  find(team: string): Team | undefined {
    return this.byName?.get(team);
  }

  /** The team's configuration; NOT_FOUND when a teams file is loaded and does not list it. */
  require(team: string): Team | undefined {
    if (!this.byName) return undefined;
    const t = this.byName.get(team);
    if (!t) {
      throw new SidecarError('NOT_FOUND', `team ${team} is not in the teams file (SIDECAR_TEAMS_FILE); known teams: ${[...this.byName.keys()].join(', ') || 'none'}`, { team });
    }
    return t;
  }

  initialActive(team: string): EnvironmentName {
    return this.require(team)?.active_environment ?? 'blue';
  }
}

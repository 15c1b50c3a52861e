import { readFileSync } from 'node:fs';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { SidecarError } from '../sidecar-error';
import { JenkinsClient } from '../jenkins/client';

export type JenkinsClientFactory = (team: Team, environment: EnvironmentName) => JenkinsClient;

/**
 * Builds the REST client of a team's controller from the teams file: URL per
 * environment, `jenkins_user` and the API token read from `jenkins_token_file`
 * (read on each call so a rotated token is picked up without a restart).
 */
export function teamJenkinsClientFactory(opts: { timeoutMs?: number; readToken?: (path: string) => string } = {}): JenkinsClientFactory {
  const readToken = opts.readToken ?? ((p: string) => readFileSync(p, 'utf8'));
  return (team, environment) => {
    if (!team.jenkins_token_file) {
      throw new SidecarError('DEPENDENCY_DOWN', `team ${team.team_name} has no jenkins_token_file in the teams file; the sidecar needs an API token of ${team.jenkins_user} to talk to its controllers`, { team: team.team_name });
    }
    let token: string;
    try {
      token = readToken(team.jenkins_token_file).trim();
    } catch (err) {
      throw new SidecarError('DEPENDENCY_DOWN', `cannot read jenkins_token_file ${team.jenkins_token_file} of team ${team.team_name}: ${(err as Error).message}`, { team: team.team_name }, { cause: err });
    }
    return new JenkinsClient({
      baseUrl: team.environments[environment].url,
      user: team.jenkins_user,
      token,
      label: `${team.team_name}/${environment}`,
      timeoutMs: opts.timeoutMs,
    });
  };
}

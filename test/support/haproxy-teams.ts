import { randomBytes } from 'node:crypto';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';

/** A team with a random name suffix (tests share one machine) on the given blue ports. */
export function testTeam(opts: { prefix?: string; webPort: number; agentPort: number; active?: 'blue' | 'green' }): Team {
  const name = `${opts.prefix ?? 't'}${randomBytes(3).toString('hex')}`;
  const yaml = [
    'jenkins_teams:',
    `  - team_name: ${name}`,
    `    active_environment: ${opts.active ?? 'blue'}`,
    `    web_port: ${opts.webPort}`,
    `    agent_port: ${opts.agentPort}`,
  ].join('\n');
  const { teams, errors } = parseTeamsDocument(yaml, 'test-teams.yml');
  if (errors.length) throw new Error(errors.join('\n'));
  return teams[0];
}

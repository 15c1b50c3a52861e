import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTeamsDocument } from '../../catalog/teams-file';
import { renderTeamFiles } from '../../library-gen/src/render/team-files';

// docs/teams-file.md promises a full example: it must parse and render as documented.
const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'teams-file.md'), 'utf8');

test('the full example of docs/teams-file.md is a valid teams file and renders the four files for both teams', () => {
  const block = /## Full example\s+```yaml\n([\s\S]*?)```/.exec(doc);
  expect(block).not.toBeNull();
  const { teams, errors } = parseTeamsDocument(block?.[1] ?? '', 'docs/teams-file.md');
  expect(errors).toEqual([]);
  expect(teams.map((t) => t.team_name)).toEqual(['devops', 'platform']);
  const paths = teams.flatMap((t) => renderTeamFiles(t).map((f) => f.path));
  expect(paths).toEqual([
    'teams/devops/Dockerfile',
    'teams/devops/jenkins.yaml',
    'teams/devops/plugins.txt',
    'teams/devops/seedJob.groovy',
    'teams/platform/Dockerfile',
    'teams/platform/jenkins.yaml',
    'teams/platform/plugins.txt',
    'teams/platform/seedJob.groovy',
  ]);
  const platform = teams[1];
  expect(platform.environments.green).toMatchObject({ web_port: 8380, agent_port: 50300 });
  expect(platform.dynamic_agents.agents.map((a) => a.type)).toEqual(['maven', 'python', 'nodejs']);
  expect(teams[0].secrets.service_password).toEqual({ env: 'JENKINS_SERVICE_PASSWORD' });
});

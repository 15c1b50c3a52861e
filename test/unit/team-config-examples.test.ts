import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseTeamsDocument } from '../../catalog/teams-file';
import { renderTeamFiles } from '../../library-gen/src/render/team-files';

// Acceptance: the example teams file produces teams/<team>/ for its two self-managed teams.
test('examples/teams.yml renders the four files for each self-managed team (devops, ma), and none for ba', () => {
  const { teams, errors } = parseTeamsDocument(readFileSync(join(__dirname, '..', '..', 'examples', 'teams.yml'), 'utf8'), 'examples/teams.yml');
  expect(errors).toEqual([]);
  const managed = teams.filter((t) => t.self_management_enabled);
  expect(managed.map((t) => t.team_name)).toEqual(['devops', 'ma']);
  const files = managed.flatMap((t) => renderTeamFiles(t));
  expect(files.map((f) => f.path)).toEqual(
    ['devops', 'ma'].flatMap((t) => ['Dockerfile', 'jenkins.yaml', 'plugins.txt', 'seedJob.groovy'].map((n) => `teams/${t}/${n}`)),
  );
  const maYaml = parse(files.find((f) => f.path === 'teams/ma/jenkins.yaml')?.content ?? '') as { credentials: unknown };
  expect(JSON.stringify(maYaml.credentials)).toContain('"id":"sidecar-token-ma"');
  expect(JSON.stringify(maYaml.credentials)).toContain('"secret":"${SIDECAR_TOKEN}"');
  expect(files.find((f) => f.path === 'teams/devops/plugins.txt')?.content).toContain('timestamper:1.30');
});

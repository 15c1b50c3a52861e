import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTeamsDocument } from '../../catalog/teams-file';
import { checkTeamConformance, teamsFileConformance } from '../../agent/src/doctor/conformance-check';
import { hostProbes } from '../../agent/src/doctor/host-probes';
import { loadTemplates } from '../../library-gen/src/template-source';
import { verifyTeamsText } from '../../library-gen/src/verify/verify-command';

/**
 * The doctor's conformance check runs the installation's `library-gen verify --json`
 * as its own program (the daemon never loads the generator) and shows each team
 * exactly the lines verify prints for it. Needs a fresh `npm run build`.
 */
const dir = mkdtempSync(join(tmpdir(), 'jsm-doctor-conformance-'));
const teamsFile = join(dir, 'teams.yml');
const TEXT = [
  'jenkins_teams:',
  '  - team_name: devops',
  '    self_management_enabled: true',
  '    dynamic_agents:',
  '      mount_docker_socket: true',
  '    jenkins_configuration:',
  '      public_url: https://jenkins.example.com/devops/',
  '  - team_name: qa',
  '    self_management_enabled: true',
  '    web_port: 18080',
  '    agent_port: 51000',
  '    dynamic_agents:',
  '      mount_docker_socket: true',
  '',
].join('\n');

beforeAll(() => {
  expect(parseTeamsDocument(TEXT, teamsFile).errors).toEqual([]);
  writeFileSync(teamsFile, TEXT);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("reports per team the lines library-gen verify prints, from the installation's own program", () => {
  const conformance = teamsFileConformance(teamsFile, hostProbes());
  expect(conformance).toEqual(verifyTeamsText(TEXT, teamsFile, loadTemplates()).byTeam);
  const [devops, qa] = parseTeamsDocument(TEXT, teamsFile).teams;
  expect(checkTeamConformance(teamsFile, devops, conformance)).toMatchObject({ status: 'ok' });
  const failed = checkTeamConformance(teamsFile, qa, conformance);
  expect(failed).toMatchObject({ status: 'fail' });
  expect(failed.details).toContain(
    `${teamsFile}: team qa: teams/qa/jenkins.yaml: no unclassified.location.url: builds would have no JENKINS_URL or BUILD_URL; fix: set jenkins_configuration.public_url to the address users reach the team at`,
  );
});

it('fails the check with what library-gen said when verify cannot run on the file', () => {
  const missing = join(dir, 'absent.yml');
  const conformance = teamsFileConformance(missing, hostProbes());
  const [devops] = parseTeamsDocument(TEXT, teamsFile).teams;
  const result = checkTeamConformance(missing, devops, conformance);
  expect(result).toMatchObject({ status: 'fail', summary: expect.stringMatching(`^cannot run library-gen verify: .*library-gen: ${missing}: cannot read`) });
});

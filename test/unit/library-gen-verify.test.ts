import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { buildJcasc } from '../../library-gen/src/render/team-jcasc';
import { loadTemplates } from '../../library-gen/src/template-source';
import { jcascProblems, requestedLabels, teamConformance } from '../../library-gen/src/verify/conformance';
import { verifyTeamsText } from '../../library-gen/src/verify/verify-command';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * library-gen verify: each class of defect a real Jenkins would hit, in a teams
 * file built to have it, is reported with the team, the generated file and a fix.
 */
const templates = loadTemplates();
// A team that conforms except for what each case adds.
const GOOD = [
  '    self_management_enabled: true',
  '    dynamic_agents:',
  '      mount_docker_socket: true',
  '    jenkins_configuration:',
  '      public_url: https://jenkins.example.com/devops/',
];
const doc = (lines: string[]): string => ['jenkins_teams:', '  - team_name: devops', ...lines].join('\n');
const teamOf = (lines: string[]): Team => {
  const { teams, errors } = parseTeamsDocument(doc(lines), 'teams.yml');
  expect(errors).toEqual([]);
  return teams[0];
};
const linesOf = (lines: string[]): string[] => verifyTeamsText(doc(lines), 'teams.yml', templates).lines;

describe('library-gen verify finds each defect class', () => {
  it('a conforming team has no problem (its coordination node carries coordination-agent)', () => {
    expect(linesOf(GOOD)).toEqual([]);
  });

  it('a core older than a plugin needs (the JDK 17 image of 2.479.3): one line per plugin, naming plugins.txt and the image to use', () => {
    const lines = linesOf([...GOOD, '    jenkins_base_image: jenkins/jenkins:2.479.3-lts-jdk17']);
    expect(lines).toContain(
      'teams.yml: team devops: teams/devops/plugins.txt: plugin configuration-as-code 2117.vc05a_0b_e6b_f4e requires Jenkins 2.541.1, but jenkins_base_image jenkins/jenkins:2.479.3-lts-jdk17 is 2.479.3; fix: use jenkins_base_image jenkins/jenkins:2.568.2-lts-jdk21',
    );
    expect(lines.filter((l) => l.includes('requires Jenkins')).map((l) => /plugin (\S+)/.exec(l)?.[1])).toEqual(['cloudbees-folder', 'configuration-as-code', 'credentials', 'docker-plugin', 'git', 'pipeline-groovy-lib']);
  });

  it('${trim:} with the configuration-as-code that installs on 2.479.3 (1963.v24e046127a_3f): every secret is named', () => {
    const lines = linesOf([...GOOD, '    plugins:', '      configuration-as-code: "1963.v24e046127a_3f"']);
    expect(lines).toContain(
      "teams.yml: team devops: teams/devops/plugins.txt: plugin configuration-as-code 1963.v24e046127a_3f: its required core is not recorded; fix: use 2117.vc05a_0b_e6b_f4e (required core 2.541.1) or record 1963.v24e046127a_3f's pom jenkins.version in catalog/jenkins-platform.ts",
    );
    const trim = lines.filter((l) => l.includes('${trim:...}'));
    expect(trim.map((l) => l.split(': ')[3].split(' ')[0])).toEqual(['jenkins.securityRealm.local.users[].password', 'jenkins.securityRealm.local.users[].password', 'credentials.system.domainCredentials[].credentials[].string.secret']);
    expect(trim[0]).toContain('which configuration-as-code 1963.v24e046127a_3f does not have (since 2061.vc08919f7fc37)');
  });

  it('an unpinned plugin and an image whose core cannot be told', () => {
    const lines = linesOf([...GOOD, '    jenkins_base_image: registry.local/my-jenkins:1', '    plugins:', '      ansicolor: latest']);
    expect(lines).toEqual([
      'teams.yml: team devops: teams/devops/Dockerfile: cannot tell the Jenkins core of jenkins_base_image registry.local/my-jenkins:1, so no plugin can be checked against it; fix: use an official tag such as jenkins/jenkins:2.568.2-lts-jdk21',
      "teams.yml: team devops: teams/devops/plugins.txt: plugin ansicolor is not pinned: what installs (and the core it needs) is unknown until the image is built; fix: pin it under plugins: (ansicolor: \"<version>\") and add its pom's jenkins.version to catalog/jenkins-platform.ts",
    ]);
  });

  it('a Docker cloud on a socket the controller does not have, and no public URL', () => {
    const lines = linesOf(['    self_management_enabled: true']);
    expect(lines).toEqual([
      'teams.yml: team devops: teams/devops/jenkins.yaml: the Docker cloud uses unix:///var/run/docker.sock, which the controller container does not have: no agent would ever start; fix: set dynamic_agents.mount_docker_socket: true (root-equivalent, docs/teams-file.md) or docker_host: tcp://host:port',
      'teams.yml: team devops: teams/devops/jenkins.yaml: no unclassified.location.url: builds would have no JENKINS_URL or BUILD_URL; fix: set jenkins_configuration.public_url to the address users reach the team at',
    ]);
  });

  it('a label nothing provides (seed_job_label) and a file:// repository deploy does not mount', () => {
    const lines = linesOf([
      ...GOOD,
      '      seed_job_label: nowhere',
      '    self_management_config:',
      '      pipelines_repository: file:///srv/pipelines.git',
      '    shared_library:',
      '      scm_url: file:///srv/library.git',
    ]);
    expect(lines).toEqual([
      'teams.yml: team devops: teams/devops/seedJob.groovy: needs an agent labelled nowhere, but no node or cloud template of team devops carries it (the build would wait forever); fix: provide a node with label nowhere (docs/coordination-agent.md) or a cloud template with it',
      'teams.yml: team devops: teams/devops/jenkins.yaml: the Infrastructure jobs read file:///srv/pipelines.git, which environment.deploy does not mount (it mounts shared_library.scm_url file:///srv/library.git); fix: use one repository for both, or a URL the controller can reach',
    ]);
  });

  it('a key no pinned plugin defines, a ${VAR} and a readFile deploy does not provide, an unknown lookup', () => {
    const team = teamOf(GOOD);
    const jcasc = buildJcasc(team, { cascDir: '/c' });
    const tampered = {
      ...jcasc,
      jenkins: { ...(jcasc.jenkins as object), systemMessage: '${NOT_GIVEN} ${readFile:/etc/elsewhere} ${vault:x/y}', quietPeriod: 5 },
    };
    expect(jcascProblems(team, '2.568.2', tampered).map((p) => `${p.file}: ${p.problem}`)).toEqual([
      "jenkins.yaml: jenkins.systemMessage uses ${vault:...}, which configuration-as-code does not have",
      'jenkins.yaml: jenkins.systemMessage reads ${NOT_GIVEN}, which environment.deploy does not give the controller (JCasC would use an empty string)',
      'jenkins.yaml: jenkins.systemMessage reads /etc/elsewhere, which environment.deploy does not mount',
      'jenkins.yaml: key jenkins.quietPeriod is not known to exist in the pinned plugins or core 2.568.2',
    ]);
    const extraRoot = { ...jcasc, tool: { git: { installations: [] } } };
    expect(jcascProblems(team, '2.568.2', extraRoot).map((p) => p.problem)).toEqual(['root element tool is not one configuration-as-code knows with the pinned plugins', 'key tool.git.installations is not known to exist in the pinned plugins or core 2.568.2']);
  });

  it('{env: NAME} secrets and the library host directory count as given: deploy provides them', () => {
    const team = teamOf([...GOOD, '    secrets:', '      sidecar_token: { env: SIDECAR_TOKEN }']);
    expect(JSON.stringify(buildJcasc(team, { cascDir: '/c' }))).toContain('${SIDECAR_TOKEN}');
    expect(JSON.stringify(buildJcasc(team, { cascDir: '/c' }))).toContain('${JSM_LIBRARY_HOST_DIR}');
    expect(teamConformance(team, new Map()).filter((p) => p.problem.includes('does not give'))).toEqual([]);
  });

  it('examples/teams.yml conforms: every label the Jenkinsfiles ask for is carried by a generated node', () => {
    const text = readFileSync(join(__dirname, '../../examples/teams.yml'), 'utf8');
    const r = verifyTeamsText(text, 'examples/teams.yml', templates);
    expect(r.teams).toBe(2);
    expect(r.lines).toEqual([]);
  });

  it('a label named in a comment is not a label the build asks for', () => {
    expect(requestedLabels("// the coordination node's envVars\nagent { label 'coordination-agent' }\nnode('x') {}")).toEqual(['coordination-agent', 'x']);
  });
});

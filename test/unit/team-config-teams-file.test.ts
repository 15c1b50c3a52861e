import { parseTeamsDocument } from '../../catalog/teams-file';

const doc = (lines: string[]): string => ['jenkins_teams:', '  - team_name: devops', '    self_management_enabled: true', ...lines].join('\n');
const errorsOf = (lines: string[]): string[] => parseTeamsDocument(doc(lines), 'teams.yml').errors;

describe('teams file: per-team Jenkins configuration fields', () => {
  // The seed's jenkins/jenkins-agent-<type> images are not published; jenkins/agent is (jenkinsci/docker-agent).
  const AGENT = 'jenkins/agent:3355.v388858a_47b_33-5-jdk21';
  it("defaults to the seed's agent types on the official jenkins/agent image, the official base image and secrets under /run/secrets", () => {
    const { teams, errors } = parseTeamsDocument(doc([]), 'teams.yml');
    expect(errors).toEqual([]);
    const t = teams[0];
    expect(t.jenkins_base_image).toBe('jenkins/jenkins:2.568.2-lts-jdk21');
    expect(t.dynamic_agents.agents.map((a) => [a.type, a.labels.join(' '), a.image, a.privileged])).toEqual([
      ['maven', 'devops-maven maven-devops', AGENT, false],
      ['python', 'devops-python python-devops', AGENT, false],
      ['nodejs', 'devops-nodejs nodejs-devops', AGENT, false],
      ['dind', 'devops-dind dind-devops docker-devops', AGENT, true],
    ]);
    expect(t.secrets.sidecar_token).toEqual({ file: '/run/secrets/sidecar-token' });
    expect(t.shared_library).toMatchObject({ name: 'jenkins-selfmanage', default_version: 'main', library_path: 'library/' });
    expect(t.jenkins_configuration).toMatchObject({ controller_executors: 0, job_dsl_script_security: false });
  });

  it.each([
    [['    jenkins_base_image: "jenkins/jenkins; rm -rf /"'], 'field jenkins_base_image: expected a Docker image reference'],
    [['    plugins:', '      "bad plugin": "1.0"'], 'field plugins.bad plugin: expected a plugin short name'],
    [['    plugins:', '      git: "5.2.1 && x"'], 'field plugins.git: expected a plugin version or latest'],
    [['    shared_library:', '      scm_url: "https://x.example/${HOME}"'], 'field shared_library.scm_url: expected a git URL'],
    [['    shared_library:', '      library_path: /abs'], 'field shared_library.library_path: expected a relative directory'],
    [['    secrets:', '      sidecar_token:', '        file: relative/path'], 'field secrets.sidecar_token'],
    [['    secrets:', '      sidecar_token:', '        file: /run/secrets/a', '        env: TOKEN'], 'field secrets.sidecar_token'],
    [['    dynamic_agents:', '      ruby_agents: {}'], 'field dynamic_agents'],
    [['    dynamic_agents:', '      docker_host: "http://docker:2375"'], 'field dynamic_agents.docker_host: expected unix:///path or tcp://host:port'],
    [['    dynamic_agents:', '      maven_agents:', '        labels: ["two words"]'], 'field dynamic_agents.maven_agents.labels.0: expected a label without spaces'],
    [['    jenkins_configuration:', '      system_message: "line1\\nline2"'], 'field jenkins_configuration.system_message: expected one line'],
    [['    jenkins_configuration:', '      controller_executors: -1'], 'field jenkins_configuration.controller_executors'],
    [['    jenkins_configuration:', '      public_url: "https://x.example/${HOME}"'], 'field jenkins_configuration.public_url: expected an http(s) URL'],
    [['    jenkins_configuration:', '      public_url: "javascript:alert(1)"'], 'field jenkins_configuration.public_url: expected an http(s) URL'],
    [['    dynamic_agents:', '      mount_docker_socket: "yes"'], 'field dynamic_agents.mount_docker_socket'],
  ])('rejects %j naming file, team and field', (lines, expected) => {
    const errors = errorsOf(lines);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.some((e) => e.startsWith('teams.yml: team devops') && e.includes(expected))).toBe(true);
  });

  it('refuses a self-managed team whose seed job has nowhere to run', () => {
    const errors = errorsOf(['    jenkins_configuration:', '      dynamic_agents: false']);
    expect(errors).toEqual([expect.stringMatching(/^teams\.yml: team devops: field jenkins_configuration\.controller_executors: the seed job has nowhere to run/)]);
    expect(errorsOf(['    jenkins_configuration:', '      dynamic_agents: false', '      seed_job_label: seeders'])).toEqual([]);
  });

  it('refuses one label on two agent types', () => {
    const errors = errorsOf(['    dynamic_agents:', '      python_agents:', '        labels: [devops-maven]']);
    expect(errors).toEqual(['teams.yml: team devops: field dynamic_agents.python_agents.labels: label devops-maven is already used by maven_agents']);
  });
});

describe('teams file: the shared library defaults to the repository of the generated output', () => {
  it("takes URL, branch and credentials from self_management_config.pipelines_* unless shared_library says otherwise", () => {
    const smc = ['    self_management_config:', '      pipelines_repository: ssh://git@git.example.com/ops/jsm.git', '      pipelines_branch: release', '      pipelines_credentials_id: git-ssh'];
    const a = parseTeamsDocument(doc(smc), 'teams.yml');
    expect(a.errors).toEqual([]);
    expect(a.teams[0].shared_library).toEqual({ name: 'jenkins-selfmanage', scm_url: 'ssh://git@git.example.com/ops/jsm.git', default_version: 'release', credentials_id: 'git-ssh', library_path: 'library/' });
    const b = parseTeamsDocument(doc([...smc, '    shared_library:', '      scm_url: https://other.example.com/lib.git', '      default_version: v2']), 'teams.yml');
    expect(b.teams[0].shared_library).toMatchObject({ scm_url: 'https://other.example.com/lib.git', default_version: 'v2', credentials_id: 'git-ssh' });
  });
});

import { parse } from 'yaml';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { renderTeamFiles, renderSeedJob } from '../../library-gen/src/render/team-files';
import { escapeCascInterpolation } from '../../library-gen/src/render/team-jcasc';
import { groovySingleQuoted } from '../../library-gen/src/render/team-templates';

function teamFrom(lines: string[], name = 'devops'): Team {
  const yaml = ['jenkins_teams:', `  - team_name: ${name}`, '    self_management_enabled: true', ...lines].join('\n');
  const { teams, errors } = parseTeamsDocument(yaml, 'render.yml');
  expect(errors).toEqual([]);
  return teams[0];
}

const fileOf = (files: Array<{ path: string; content: string }>, name: string): string => {
  const f = files.find((x) => x.path.endsWith(`/${name}`));
  if (!f) throw new Error(`no ${name} in ${files.map((x) => x.path).join(', ')}`);
  return f.content;
};
type Jcasc = {
  jenkins: Record<string, unknown> & { clouds?: Array<{ docker: { name: string; templates: Array<Record<string, unknown> & { dockerTemplateBase: Record<string, unknown> }> } }> };
  credentials: { system: { domainCredentials: Array<{ credentials: Array<{ string: Record<string, string> }> }> } };
  unclassified: { globalLibraries: { libraries: Array<Record<string, unknown> & { retriever: { modernSCM: { libraryPath?: string; scm: { git: Record<string, string> } } } }> } };
  jobs: Array<{ file: string }>;
  security: { globalJobDslSecurityConfiguration: { useScriptSecurity: boolean } };
};
const jcascOf = (t: Team): Jcasc => parse(fileOf(renderTeamFiles(t), 'jenkins.yaml')) as Jcasc;

describe('renderTeamFiles', () => {
  const devops = teamFrom(['    shared_library:', '      scm_url: https://git.example.com/jsm.git']);

  it('writes the four files of the seed layout under teams/<team>/, byte-identical on every run', () => {
    const a = renderTeamFiles(devops);
    expect(a.map((f) => f.path)).toEqual(['teams/devops/Dockerfile', 'teams/devops/jenkins.yaml', 'teams/devops/plugins.txt', 'teams/devops/seedJob.groovy']);
    const again = renderTeamFiles(teamFrom(['    shared_library:', '      scm_url: https://git.example.com/jsm.git']));
    expect(again).toEqual(a);
    expect(renderTeamFiles(devops, { teamsDir: 'build' }).map((f) => f.path)[0]).toBe('build/devops/Dockerfile');
  });

  it('names the team in the system message and leaves the environment to JENKINS_ENVIRONMENT at start', () => {
    const msg = String(jcascOf(devops).jenkins.systemMessage);
    expect(msg).toContain('team devops');
    expect(msg).toContain('${JENKINS_ENVIRONMENT:-unknown}');
    expect(msg).not.toMatch(/\b(blue|green)\b/);
  });

  it('escapes JCasC interpolation in text from the teams file', () => {
    expect(escapeCascInterpolation('a ${X} b')).toBe('a ^${X} b');
    const t = teamFrom(['    jenkins_configuration:', '      system_message: "Ask ${ADMIN} first"']);
    expect(String(jcascOf(t).jenkins.systemMessage)).toContain('Ask ^${ADMIN} first');
  });

  it('registers the sidecar token as string credential sidecar-token read from a secret file, or an env var, never its value', () => {
    const fromFile = jcascOf(devops).credentials.system.domainCredentials[0].credentials[0].string;
    expect(fromFile).toMatchObject({ id: 'sidecar-token', scope: 'GLOBAL', secret: '${trim:${readFile:/run/secrets/sidecar-token}}' });
    const t = teamFrom(['    sidecar_credentials_id: sidecar-token-ma', '    secrets:', '      sidecar_token:', '        env: SIDECAR_TOKEN'], 'ma');
    expect(jcascOf(t).credentials.system.domainCredentials[0].credentials[0].string).toMatchObject({ id: 'sidecar-token-ma', secret: '${SIDECAR_TOKEN}' });
  });

  it('has CSRF protection, no controller executors by default, login required', () => {
    const j = jcascOf(devops).jenkins;
    expect(j).toMatchObject({ numExecutors: 0, mode: 'EXCLUSIVE', crumbIssuer: 'standard', authorizationStrategy: { loggedInUsersCanDoAnything: { allowAnonymousRead: false } } });
    expect(j.securityRealm).toMatchObject({ local: { allowsSignup: false, users: [{ id: 'admin' }, { id: 'sidecar' }] } });
    expect(jcascOf(teamFrom(['    jenkins_configuration:', '      controller_executors: 2'])).jenkins.numExecutors).toBe(2);
  });

  it("renders the seed's four agent types with labels <team>-<type> <type>-<team>, images, capabilities; only dind privileged", () => {
    const cloud = jcascOf(devops).jenkins.clouds?.[0].docker;
    expect(cloud?.name).toBe('docker-devops');
    const byName = Object.fromEntries((cloud?.templates ?? []).map((t) => [t.name, t]));
    expect(Object.keys(byName)).toEqual(['devops-maven', 'devops-python', 'devops-nodejs', 'devops-dind']);
    expect(byName['devops-maven']).toMatchObject({ labelString: 'devops-maven maven-devops', dockerTemplateBase: { image: 'jenkins/agent:3355.v388858a_47b_33-5-jdk21', privileged: false } });
    expect(byName['devops-python'].labelString).toBe('devops-python python-devops');
    expect(byName['devops-nodejs'].labelString).toBe('devops-nodejs nodejs-devops');
    expect(byName['devops-dind']).toMatchObject({ labelString: 'devops-dind dind-devops docker-devops', dockerTemplateBase: { image: 'jenkins/agent:3355.v388858a_47b_33-5-jdk21', privileged: true } });
    expect(byName['devops-maven'].dockerTemplateBase.environmentsString).toContain('JSM_AGENT_CAPABILITIES=java,git');
    expect(byName['devops-dind'].dockerTemplateBase.environmentsString).toContain('JSM_AGENT_CAPABILITIES=java,git');
  });

  it('a file:// library is mounted read-only into every agent template from JSM_LIBRARY_HOST_DIR (the seed job clones it there); a remote one is not', () => {
    const local = jcascOf(teamFrom([])).jenkins.clouds?.[0].docker.templates ?? [];
    expect(local).toHaveLength(4);
    for (const t of local) expect((t.dockerTemplateBase as Record<string, unknown>).mountsString).toBe('type=bind,source=${JSM_LIBRARY_HOST_DIR},destination=/var/lib/jenkins-selfmanage/library.git,readonly');
    for (const t of jcascOf(devops).jenkins.clouds?.[0].docker.templates ?? []) expect(t.dockerTemplateBase).not.toHaveProperty('mountsString');
  });

  it('public_url becomes unclassified.location.url (JENKINS_URL, BUILD_URL); without it there is no location', () => {
    const withUrl = parse(fileOf(renderTeamFiles(teamFrom(['    jenkins_configuration:', '      public_url: https://ci.example.com/devops'])), 'jenkins.yaml')) as { unclassified: Record<string, unknown> };
    expect(withUrl.unclassified.location).toEqual({ url: 'https://ci.example.com/devops/' });
    const without = parse(fileOf(renderTeamFiles(devops), 'jenkins.yaml')) as { unclassified: Record<string, unknown> };
    expect(without.unclassified).not.toHaveProperty('location');
  });

  it('honours agent overrides, disabled types and a team without dynamic agents (no cloud, no docker-plugin)', () => {
    const t = teamFrom([
      '    dynamic_agents:',
      '      maven_agents:',
      '        image: registry.local/agents/maven:3.9',
      '        instance_cap: 2',
      '      python_agents: { enabled: false }',
      '      nodejs_agents: { enabled: false }',
      '      dind_agents: { enabled: false }',
    ]);
    const templates = jcascOf(t).jenkins.clouds?.[0].docker.templates ?? [];
    expect(templates.map((x) => [x.name, x.instanceCapStr, x.dockerTemplateBase.image])).toEqual([['devops-maven', '2', 'registry.local/agents/maven:3.9']]);
    const none = teamFrom(['    jenkins_configuration:', '      dynamic_agents: false', '      controller_executors: 1']);
    expect(jcascOf(none).jenkins.clouds).toBeUndefined();
    expect(fileOf(renderTeamFiles(none), 'plugins.txt')).not.toContain('docker-plugin');
  });

  it('registers the generated library (name, default version, modernSCM git retriever, library path) and the seed job file', () => {
    const j = jcascOf(teamFrom(['    shared_library:', '      scm_url: git@git.example.com:ops/jsm.git', '      default_version: v1.2.0', '      credentials_id: git-ssh']));
    expect(j.unclassified.globalLibraries.libraries).toEqual([
      { name: 'jenkins-selfmanage', defaultVersion: 'v1.2.0', implicit: true, retriever: { modernSCM: { scm: { git: { remote: 'git@git.example.com:ops/jsm.git', credentialsId: 'git-ssh' } }, libraryPath: 'library/' } } },
    ]);
    expect(j.jobs).toEqual([{ file: '/usr/share/jenkins/casc/seedJob.groovy' }]);
    expect(j.security.globalJobDslSecurityConfiguration.useScriptSecurity).toBe(false);
  });

  it('plugins.txt lists what the configuration needs, sorted, pinned from the catalog unless the teams file names a version', () => {
    const t = teamFrom(['    plugins:', '      configuration-as-code: "1850.va_a_8c31d3158b_"', '      timestamper: latest']);
    const lines = fileOf(renderTeamFiles(t), 'plugins.txt').split('\n').filter((l) => l && !l.startsWith('#'));
    const names = lines.map((l) => l.split(':')[0]);
    expect(names).toEqual([...names].sort());
    expect(lines.filter((l) => l.endsWith(':latest'))).toEqual([]);
    expect(lines).toEqual(
      expect.arrayContaining([
        'configuration-as-code:1850.va_a_8c31d3158b_',
        'job-dsl:3654.vdf58f53e2d15',
        'workflow-aggregator:608.v67378e9d3db_1',
        'git:5.10.1',
        'credentials-binding:728.v902a_273b_8947',
        'plain-credentials:199.v9f8e1f741799',
        'pipeline-groovy-lib:798.v5cc688825312',
        'docker-plugin:1324.v2fb_b_df97fe1d',
        'timestamper:1.30',
      ]),
    );
  });

  it('the Dockerfile builds FROM the team base image with exec-form RUN only, CASC_JENKINS_CONFIG and the wizard off', () => {
    const t = teamFrom(['    jenkins_base_image: registry.local/jenkins/jenkins:2.479.3-lts-jdk17', '    shared_library:', '      scm_url: https://git.example.com/jsm.git']);
    const df = fileOf(renderTeamFiles(t), 'Dockerfile');
    const lines = df.split('\n');
    expect(lines.filter((l) => l.startsWith('FROM '))).toEqual(['FROM registry.local/jenkins/jenkins:2.479.3-lts-jdk17']);
    expect(lines.filter((l) => l.startsWith('RUN '))).toEqual(['RUN ["jenkins-plugin-cli", "--plugin-file", "/usr/share/jenkins/ref/plugins.txt"]']);
    expect(df).toContain('CASC_JENKINS_CONFIG=/usr/share/jenkins/casc/jenkins.yaml');
    expect(df).toContain('-Djenkins.install.runSetupWizard=false');
    expect(df).toContain('COPY --chown=jenkins:jenkins jenkins.yaml seedJob.groovy /usr/share/jenkins/casc/');
    expect(df).not.toContain('ALLOW_LOCAL_CHECKOUT');
    const local = fileOf(renderTeamFiles(teamFrom(['    shared_library:', '      scm_url: file:///srv/git/jsm.git'])), 'Dockerfile');
    expect(local).toContain('JAVA_OPTS="-Djenkins.install.runSetupWizard=false -Dhudson.plugins.git.GitSCM.ALLOW_LOCAL_CHECKOUT=true"');
  });

  it('seedJob.groovy creates the team folders and a seed job that applies jobdsl/ for the team, then queues it', () => {
    const seed = renderSeedJob(devops);
    expect(seed).toContain("folder('devops')");
    expect(seed).toContain("pipelineJob('devops/Infrastructure/Seed-Job')");
    expect(seed).toContain("node('devops-maven')");
    expect(seed).toContain("git(url: 'https://git.example.com/jsm.git', branch: 'main')");
    expect(seed).toContain("jobDsl(targets: 'jobdsl/*.groovy'");
    expect(seed).toContain("additionalParameters: [JENKINS_TEAM: 'devops']");
    expect(seed).toContain("queue('devops/Infrastructure/Seed-Job')");
    const onController = renderSeedJob(teamFrom(['    jenkins_configuration:', '      controller_executors: 1', '      dynamic_agents: false']));
    expect(onController).toContain("node('built-in')");
  });

  it('refuses to put quotes or backslashes into generated Groovy', () => {
    expect(groovySingleQuoted('plain-value_1.2/x')).toBe("'plain-value_1.2/x'");
    expect(() => groovySingleQuoted("it's")).toThrow(/quotes, backslashes/);
    expect(() => groovySingleQuoted('a\\b')).toThrow(/quotes, backslashes/);
    expect(() => groovySingleQuoted('a\nb')).toThrow(/control characters/);
  });
});

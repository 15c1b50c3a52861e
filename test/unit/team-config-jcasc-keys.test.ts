import { parse } from 'yaml';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { buildJcasc } from '../../library-gen/src/render/team-jcasc';
import { renderTeamFiles } from '../../library-gen/src/render/team-files';

/**
 * Every key the generated jenkins.yaml uses, with where the configuration-as-code
 * plugin (or the plugin owning the section) documents it. No Jenkins runs here,
 * so this list is the check: a key not on it fails the test until someone looks
 * it up. `[]` stands for "each list item".
 */
const DOCUMENTED_KEYS: Record<string, string> = {
  jenkins: 'configuration-as-code demos/jenkins/jenkins.yaml',
  'jenkins.systemMessage': 'configuration-as-code demos/jenkins/jenkins.yaml',
  'jenkins.numExecutors': 'configuration-as-code demos/jenkins/jenkins.yaml',
  'jenkins.mode': 'configuration-as-code demos/jenkins/jenkins.yaml (mode: NORMAL; EXCLUSIVE is the other Node.Mode)',
  'jenkins.crumbIssuer': 'jenkins core hudson.security.csrf.DefaultCrumbIssuer.DescriptorImpl @Symbol("standard")',
  'jenkins.securityRealm': 'configuration-as-code demos/embedded-userdatabase/README.md',
  'jenkins.securityRealm.local': 'configuration-as-code demos/embedded-userdatabase/README.md',
  'jenkins.securityRealm.local.allowsSignup': 'configuration-as-code demos/embedded-userdatabase/README.md',
  'jenkins.securityRealm.local.users': 'configuration-as-code demos/embedded-userdatabase/README.md',
  'jenkins.securityRealm.local.users[].id': 'configuration-as-code demos/embedded-userdatabase/README.md',
  'jenkins.securityRealm.local.users[].password': 'configuration-as-code demos/embedded-userdatabase/README.md (${trim:${readFile:...}} for secrets in files)',
  'jenkins.authorizationStrategy': 'configuration-as-code demos/jenkins/jenkins.yaml',
  'jenkins.authorizationStrategy.loggedInUsersCanDoAnything': 'configuration-as-code demos/jenkins/jenkins.yaml',
  'jenkins.authorizationStrategy.loggedInUsersCanDoAnything.allowAnonymousRead': 'configuration-as-code demos/jenkins/jenkins.yaml',
  'jenkins.nodes': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.name': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.nodeDescription': 'jenkins core hudson.model.Slave#setNodeDescription (@DataBoundSetter; JCasC configures DataBoundSetters by name)',
  'jenkins.nodes[].permanent.labelString': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.mode': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.numExecutors': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.remoteFS': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.launcher': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.launcher.inbound': 'configuration-as-code demos/build_agents/README.md (JNLPLauncher @Symbol({"inbound", "jnlp"}) since core 2.376)',
  'jenkins.nodes[].permanent.launcher.inbound.webSocket': 'configuration-as-code demos/build_agents/README.md (JNLPLauncher#setWebSocket)',
  'jenkins.nodes[].permanent.launcher.inbound.workDirSettings': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.launcher.inbound.workDirSettings.disabled': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.launcher.inbound.workDirSettings.failIfWorkDirIsMissing': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.launcher.inbound.workDirSettings.internalDir': 'configuration-as-code demos/build_agents/README.md',
  'jenkins.nodes[].permanent.nodeProperties': 'configuration-as-code test-harness core/SetEnvironmentVariable.yml (nodeProperties: - envVars: env: - key/value)',
  'jenkins.nodes[].permanent.nodeProperties[].envVars': 'configuration-as-code test-harness core/SetEnvironmentVariable.yml (nodeProperties: - envVars: env: - key/value)',
  'jenkins.nodes[].permanent.nodeProperties[].envVars.env': 'configuration-as-code test-harness core/SetEnvironmentVariable.yml (nodeProperties: - envVars: env: - key/value)',
  'jenkins.nodes[].permanent.nodeProperties[].envVars.env[].key': 'configuration-as-code test-harness core/SetEnvironmentVariable.yml (nodeProperties: - envVars: env: - key/value)',
  'jenkins.nodes[].permanent.nodeProperties[].envVars.env[].value': 'configuration-as-code test-harness core/SetEnvironmentVariable.yml (nodeProperties: - envVars: env: - key/value)',
  'jenkins.nodes[].permanent.retentionStrategy': 'configuration-as-code test-harness core/ConfigureLabels.yml (retentionStrategy: "always", RetentionStrategy.Always @Symbol("always"))',
  'jenkins.clouds': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.name': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.dockerApi': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.dockerApi.dockerHost': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.dockerApi.dockerHost.uri': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates[].name': 'docker-plugin DockerTemplate#setName (@DataBoundSetter)',
  'jenkins.clouds[].docker.templates[].labelString': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates[].dockerTemplateBase': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates[].dockerTemplateBase.image': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates[].dockerTemplateBase.privileged': 'docker-plugin DockerTemplateBase#setPrivileged (@DataBoundSetter)',
  'jenkins.clouds[].docker.templates[].dockerTemplateBase.environmentsString': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates[].dockerTemplateBase.mountsString': 'docker-plugin DockerTemplateBase#setMountsString (@DataBoundSetter; help-mountsString.html: one type=bind,src=,dst= per line)',
  'jenkins.clouds[].docker.templates[].remoteFs': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates[].connector': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates[].connector.attach': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates[].connector.attach.user': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates[].instanceCapStr': 'configuration-as-code demos/docker/README.md',
  'jenkins.clouds[].docker.templates[].mode': 'docker-plugin DockerTemplate#setMode (@DataBoundSetter)',
  'jenkins.clouds[].docker.templates[].retentionStrategy': 'docker-plugin src/test/resources/io/jenkins/docker/client/configuration-as-code_current.yml',
  'jenkins.clouds[].docker.templates[].retentionStrategy.idleMinutes': 'docker-plugin src/test/resources/io/jenkins/docker/client/configuration-as-code_current.yml',
  security: 'job-dsl docs/Script-Security.md ("Disabling Script Security", a Configure Global Security setting: JCasC root `security`)',
  'security.globalJobDslSecurityConfiguration': 'job-dsl javaposse.jobdsl.plugin.GlobalJobDslSecurityConfiguration',
  'security.globalJobDslSecurityConfiguration.useScriptSecurity': 'job-dsl javaposse.jobdsl.plugin.GlobalJobDslSecurityConfiguration#useScriptSecurity',
  credentials: 'configuration-as-code demos/credentials/credentials.yaml',
  'credentials.system': 'configuration-as-code demos/credentials/credentials.yaml',
  'credentials.system.domainCredentials': 'configuration-as-code demos/credentials/credentials.yaml',
  'credentials.system.domainCredentials[].credentials': 'configuration-as-code demos/credentials/credentials.yaml',
  'credentials.system.domainCredentials[].credentials[].string': 'configuration-as-code demos/credentials/credentials.yaml',
  'credentials.system.domainCredentials[].credentials[].string.scope': 'configuration-as-code demos/credentials/credentials.yaml',
  'credentials.system.domainCredentials[].credentials[].string.id': 'configuration-as-code demos/credentials/credentials.yaml',
  'credentials.system.domainCredentials[].credentials[].string.secret': 'configuration-as-code demos/credentials/credentials.yaml',
  'credentials.system.domainCredentials[].credentials[].string.description': 'configuration-as-code demos/credentials/credentials.yaml',
  unclassified: 'configuration-as-code demos/pipeline-groovy-lib/README.md',
  'unclassified.location': 'configuration-as-code demos/jenkins/jenkins.yaml (location: url:)',
  'unclassified.location.url': 'configuration-as-code demos/jenkins/jenkins.yaml; jenkins.model.JenkinsLocationConfiguration#setUrl',
  'unclassified.globalLibraries': 'configuration-as-code demos/pipeline-groovy-lib/README.md',
  'unclassified.globalLibraries.libraries': 'configuration-as-code demos/pipeline-groovy-lib/README.md',
  'unclassified.globalLibraries.libraries[].name': 'configuration-as-code demos/pipeline-groovy-lib/README.md',
  'unclassified.globalLibraries.libraries[].defaultVersion': 'pipeline-groovy-lib LibraryConfiguration#setDefaultVersion; configuration-as-code global library examples (defaultVersion, implicit)',
  'unclassified.globalLibraries.libraries[].implicit': 'pipeline-groovy-lib LibraryConfiguration#setImplicit; configuration-as-code global library examples (defaultVersion, implicit)',
  'unclassified.globalLibraries.libraries[].retriever': 'configuration-as-code demos/pipeline-groovy-lib/README.md',
  'unclassified.globalLibraries.libraries[].retriever.modernSCM': 'configuration-as-code demos/pipeline-groovy-lib/README.md; pipeline-groovy-lib SCMSourceRetriever @Symbol("modernSCM")',
  'unclassified.globalLibraries.libraries[].retriever.modernSCM.libraryPath': 'pipeline-groovy-lib SCMBasedRetriever#setLibraryPath (@DataBoundSetter)',
  'unclassified.globalLibraries.libraries[].retriever.modernSCM.scm': 'configuration-as-code demos/pipeline-groovy-lib/README.md',
  'unclassified.globalLibraries.libraries[].retriever.modernSCM.scm.git': 'configuration-as-code demos/pipeline-groovy-lib/README.md',
  'unclassified.globalLibraries.libraries[].retriever.modernSCM.scm.git.remote': 'configuration-as-code demos/pipeline-groovy-lib/README.md',
  'unclassified.globalLibraries.libraries[].retriever.modernSCM.scm.git.credentialsId': 'configuration-as-code demos/pipeline-groovy-lib/README.md ("Using credentials")',
  jobs: 'job-dsl docs/JCasC.md; configuration-as-code docs/seed-jobs.md',
  'jobs[].file': 'job-dsl docs/JCasC.md ("fetch your job dsl from a file")',
};

/** Keys that hold secrets: their values must be JCasC references, never text. */
const SECRET_KEYS = ['jenkins.securityRealm.local.users[].password', 'credentials.system.domainCredentials[].credentials[].string.secret'];

function keyPaths(value: unknown, prefix: string, out: Map<string, unknown[]>): void {
  if (Array.isArray(value)) {
    for (const item of value) keyPaths(item, `${prefix}[]`, out);
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.set(p, [...(out.get(p) ?? []), v]);
      keyPaths(v, p, out);
    }
  }
}

function team(extra: string[]): Team {
  const yaml = ['jenkins_teams:', '  - team_name: devops', '    self_management_enabled: true', ...extra].join('\n');
  const { teams, errors } = parseTeamsDocument(yaml, 'keys.yml');
  expect(errors).toEqual([]);
  return teams[0];
}

// Everything switched on: a local (file://) library with credentials and a path, all four agent types, a public URL.
const FULL = team([
  '    shared_library:',
  '      scm_url: file:///var/lib/jenkins-selfmanage/library.git',
  '      credentials_id: git-ssh',
  '      library_path: library/',
  '    jenkins_configuration:',
  '      public_url: https://jenkins.example.com/devops/',
]);

describe('jenkins.yaml uses only documented configuration-as-code keys', () => {
  const rendered = renderTeamFiles(FULL).find((f) => f.path.endsWith('jenkins.yaml'))?.content ?? '';
  const parsed = parse(rendered) as Record<string, unknown>;
  const paths = new Map<string, unknown[]>();
  keyPaths(parsed, '', paths);

  it('parses as YAML into exactly the object the renderer built', () => {
    expect(parsed).toEqual(buildJcasc(FULL, { cascDir: '/usr/share/jenkins/casc' }));
  });

  it('every key path it uses is on the documented list', () => {
    const undocumented = [...paths.keys()].filter((p) => !(p in DOCUMENTED_KEYS));
    expect(undocumented).toEqual([]);
  });

  it('the documented list is not stale: each entry is used by the full configuration', () => {
    const unused = Object.keys(DOCUMENTED_KEYS).filter((k) => !paths.has(k));
    expect(unused).toEqual([]);
  });

  it('secret-bearing keys hold only JCasC references', () => {
    for (const key of SECRET_KEYS) {
      const values = paths.get(key) ?? [];
      expect(values.length).toBeGreaterThan(0);
      for (const v of values) expect(v).toMatch(/^\$\{(trim:\$\{readFile:\/[^}]+\}|[A-Z_][A-Z0-9_]*)\}$/);
    }
  });

  it('top-level sections are the JCasC roots jenkins, security, credentials, unclassified and jobs', () => {
    expect(Object.keys(parsed)).toEqual(['jenkins', 'security', 'credentials', 'unclassified', 'jobs']);
  });
});

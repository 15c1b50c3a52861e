/**
 * The Jenkins a generated team image installs, pinned, with where each fact
 * comes from. library-gen writes these versions into plugins.txt and the
 * Dockerfile; `library-gen verify` and `sidecarctl doctor` check a team's
 * configuration against them (every plugin's required core <= the image's
 * core, every JCasC key and `${...}` lookup present in the installed plugin).
 * To move to a newer core or plugin: read the new version's pom.xml
 * (`jenkins.version`, often `${jenkins.baseline}.N`) and update one row.
 */

export interface CorePin {
  version: string;
  image: string;
  source: string;
}

/**
 * jenkins/jenkins publishes `<version>-lts-jdk21` for each LTS; JDK 17 images stopped with the
 * 2.555 line (jdks_to_build [21, 25]). 2.568.2 is the newest LTS tagged there when this was pinned.
 */
export const PINNED_CORE: CorePin = {
  version: '2.568.2',
  image: 'jenkins/jenkins:2.568.2-lts-jdk21',
  source: 'jenkinsci/docker tag 2.568.2, docker-bake.hcl: jdks_to_build [21, 25], debian_tags tag_lts(true, "lts-jdk${jdk}")',
};

/** Official agent image (java + git + remoting), as the docker-plugin attach connector needs java inside. */
export const PINNED_AGENT_IMAGE: CorePin = {
  version: '3355.v388858a_47b_33-5',
  image: 'jenkins/agent:3355.v388858a_47b_33-5-jdk21',
  source: 'jenkinsci/docker-agent tag 3355.v388858a_47b_33-5, docker-bake.hcl linux_tags: ${REMOTING_VERSION}-${BUILD_NUMBER}-jdk${jdk} for debian',
};

export interface PluginPin {
  name: string;
  version: string;
  /** `jenkins.version` of the plugin's pom at that version: the oldest core it installs on. */
  requiredCore: string;
  source: string;
}

const pom = (repo: string, tag: string, baseline: string): string => `jenkinsci/${repo} tag ${tag}, pom.xml jenkins.version ${baseline}`;

export const PLUGIN_PINS: readonly PluginPin[] = [
  { name: 'cloudbees-folder', version: '6.1100.ve9eed61d16c4', requiredCore: '2.528.1', source: pom('cloudbees-folder-plugin', '6.1100.ve9eed61d16c4', '${jenkins.baseline}.1 = 2.528.1') },
  { name: 'configuration-as-code', version: '2117.vc05a_0b_e6b_f4e', requiredCore: '2.541.1', source: pom('configuration-as-code-plugin', '2117.vc05a_0b_e6b_f4e', '${jenkins.baseline}.1 = 2.541.1') },
  { name: 'credentials', version: '1502.v5c95e620ddfe', requiredCore: '2.541.1', source: pom('credentials-plugin', '1502.v5c95e620ddfe', '${jenkins.baseline}.1 = 2.541.1') },
  { name: 'credentials-binding', version: '728.v902a_273b_8947', requiredCore: '2.479.3', source: pom('credentials-binding-plugin', '728.v902a_273b_8947', '${jenkins.baseline}.3 = 2.479.3') },
  { name: 'docker-plugin', version: '1324.v2fb_b_df97fe1d', requiredCore: '2.504.3', source: pom('docker-plugin', '1324.v2fb_b_df97fe1d', '${jenkins.baseline}.3 = 2.504.3') },
  { name: 'git', version: '5.10.1', requiredCore: '2.504.3', source: pom('git-plugin', 'git-5.10.1', '${jenkins.baseline}.3 = 2.504.3') },
  { name: 'job-dsl', version: '3654.vdf58f53e2d15', requiredCore: '2.479.3', source: pom('job-dsl-plugin', '3654.vdf58f53e2d15', '${jenkins.baseline}.3 = 2.479.3') },
  { name: 'pipeline-groovy-lib', version: '798.v5cc688825312', requiredCore: '2.504.3', source: pom('pipeline-groovy-lib-plugin', '798.v5cc688825312', '${jenkins.baseline}.3 = 2.504.3') },
  { name: 'plain-credentials', version: '199.v9f8e1f741799', requiredCore: '2.479.3', source: pom('plain-credentials-plugin', '199.v9f8e1f741799', '${jenkins.baseline}.3 = 2.479.3') },
  { name: 'timestamper', version: '1.30', requiredCore: '2.479.3', source: pom('timestamper-plugin', 'timestamper-1.30', '${jenkins.baseline}.3 = 2.479.3') },
  { name: 'workflow-aggregator', version: '608.v67378e9d3db_1', requiredCore: '2.479.3', source: pom('workflow-aggregator-plugin', '608.v67378e9d3db_1', '${jenkins.baseline}.3 = 2.479.3') },
];

export function pluginPin(name: string): PluginPin | undefined {
  return PLUGIN_PINS.find((p) => p.name === name);
}

/**
 * configuration-as-code's `${lookup:...}` prefixes and the first version with each
 * (SecretSourceResolver's lookup map). Anything else before `:` is not a lookup:
 * JCasC leaves the text mangled and only warns.
 */
export const CASC_LOOKUPS: ReadonlyArray<{ name: string; since: string; source: string }> = [
  ...['base64', 'fileBase64', 'readFileBase64', 'file', 'readFile', 'sysProp', 'decodeBase64', 'json'].map((name) => ({
    name,
    since: '1963.v24e046127a_3f',
    source: 'configuration-as-code-plugin 1963.v24e046127a_3f SecretSourceResolver(ConfigurationContext): map.put',
  })),
  { name: 'trim', since: '2061.vc08919f7fc37', source: 'configuration-as-code-plugin c08919f7 "Add trim helper" (2061.vc08919f7fc37), SecretSourceResolver.TrimLookup: StringUtils.stripEnd' },
];

/**
 * The JCasC keys library-gen emits and the plugin that defines each (`core` for Jenkins itself).
 * A path ending in `/` covers everything below it. List entries are written `[]`.
 */
export const CASC_KEYS: ReadonlyArray<{ path: string; plugin: string; source: string }> = [
  { path: 'jenkins.systemMessage', plugin: 'core', source: 'hudson.model.Hudson#setSystemMessage' },
  { path: 'jenkins.numExecutors', plugin: 'core', source: 'jenkins.model.Jenkins#setNumExecutors' },
  { path: 'jenkins.mode', plugin: 'core', source: 'jenkins.model.Jenkins#setMode' },
  { path: 'jenkins.crumbIssuer', plugin: 'core', source: 'hudson.security.csrf.DefaultCrumbIssuer @Symbol("standard")' },
  { path: 'jenkins.securityRealm.local/', plugin: 'core', source: 'hudson.security.HudsonPrivateSecurityRealm @Symbol("local")' },
  { path: 'jenkins.authorizationStrategy.loggedInUsersCanDoAnything/', plugin: 'core', source: 'hudson.security.FullControlOnceLoggedInAuthorizationStrategy @Symbol("loggedInUsersCanDoAnything")' },
  { path: 'jenkins.nodes[].permanent/', plugin: 'core', source: 'hudson.slaves.DumbSlave @Symbol("permanent")' },
  { path: 'jenkins.clouds[].docker/', plugin: 'docker-plugin', source: 'docker-plugin 1324.v2fb_b_df97fe1d src/test/resources/io/jenkins/docker/client/configuration-as-code_current.yml (clouds: - docker: dockerApi, templates, mountsString)' },
  { path: 'security.globalJobDslSecurityConfiguration.useScriptSecurity', plugin: 'job-dsl', source: 'job-dsl-plugin GlobalJobDslSecurityConfiguration#setUseScriptSecurity' },
  { path: 'credentials.system.domainCredentials[].credentials[].string/', plugin: 'plain-credentials', source: 'plain-credentials-plugin StringCredentialsImpl (symbol string)' },
  { path: 'unclassified.globalLibraries.libraries[]/', plugin: 'pipeline-groovy-lib', source: 'pipeline-groovy-lib-plugin 798.v5cc688825312 GlobalLibraries, LibraryConfiguration, SCMSourceRetriever @Symbol("modernSCM")' },
  { path: 'unclassified.location.url', plugin: 'core', source: 'jenkins.model.JenkinsLocationConfiguration; configuration-as-code demos/jenkins/jenkins.yaml (location: url:)' },
  { path: 'jobs[].file', plugin: 'job-dsl', source: 'job-dsl-plugin casc JobsConfigurator (jobs: root element, file/script)' },
];

/** The plugin that defines each JCasC root element (`credentials:` is the credentials plugin's, `jobs:` job-dsl's). */
export const CASC_ROOT_PLUGINS: Readonly<Record<string, string>> = {
  jenkins: 'core',
  security: 'core',
  unclassified: 'core',
  credentials: 'credentials',
  jobs: 'job-dsl',
};

/** Numeric comparison of Jenkins version strings: 2.541.1 < 2.568.2; 2061.vc0 < 2117.vc0 (the build number leads). */
export function compareVersions(a: string, b: string): number {
  const nums = (v: string): number[] => (/^[\d.]+/.exec(v)?.[0] ?? '').split('.').filter(Boolean).map(Number);
  const x = nums(a);
  const y = nums(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The core version of an official image reference (`jenkins/jenkins:2.568.2-lts-jdk21`), else null. */
export function coreOfImage(image: string): string | null {
  const m = /^(?:docker\.io\/)?jenkins\/jenkins:(\d+\.\d+(?:\.\d+)?)(?:-[a-z0-9-]+)?$/.exec(image);
  return m ? m[1] : null;
}

/**
 * The variable environment.deploy sets to a file:// library's host directory; the generated
 * Docker cloud templates mount it into agents as `${JSM_LIBRARY_HOST_DIR}` (JCasC resolves it).
 */
export const LIBRARY_HOST_DIR_ENV = 'JSM_LIBRARY_HOST_DIR';

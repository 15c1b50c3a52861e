import { CASC_KEYS, CASC_LOOKUPS, CASC_ROOT_PLUGINS, LIBRARY_HOST_DIR_ENV, PINNED_CORE, compareVersions, coreOfImage, pluginPin } from '../../../catalog/jenkins-platform';
import type { Team } from '../../../catalog/teams-file';
import { controllerContainerSpec } from '../../../catalog/controller/container-spec';
import { controllerFileMounts } from '../../../catalog/controller/controller-mounts';
import { controllerEnvSecrets } from '../../../catalog/controller/controller-runtime';
import { buildJcasc } from '../render/team-jcasc';
import { teamPlugins } from '../render/team-plugins';
import { DEFAULT_CASC_DIR, renderSeedJob } from '../render/team-files';

/**
 * `library-gen verify` (and `sidecarctl doctor`): does what library-gen generates
 * for a team work on the Jenkins that team's image installs? Pure: the team and
 * the generated Jenkinsfiles in, one line per problem out, each naming the
 * teams file, the team, the generated file and the fix. The facts it checks
 * against (versions, required cores, JCasC keys and lookups) are in
 * catalog/jenkins-platform.ts; what deploy gives the container comes from
 * the code deploy itself runs (catalog/controller/: container-spec, controller-mounts, controller-runtime).
 */
export interface Problem {
  file: string;
  problem: string;
  fix: string;
}

type Leaf = { path: string; value: unknown };

function leaves(node: unknown, path: string, out: Leaf[]): void {
  if (Array.isArray(node)) {
    if (node.every((x) => typeof x !== 'object' || x === null)) out.push({ path, value: node });
    else for (const item of node) leaves(item, `${path}[]`, out);
  } else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) leaves(v, path ? `${path}.${k}` : k, out);
  } else out.push({ path, value: node });
}

const keyEntry = (path: string) => CASC_KEYS.find((k) => (k.path.endsWith('/') ? path.startsWith(k.path.slice(0, -1)) : k.path === path));

function pluginProblems(team: Team, core: string | null): Problem[] {
  const out: Problem[] = [];
  for (const p of teamPlugins(team)) {
    const pin = pluginPin(p.name);
    if (p.version === 'latest') {
      out.push({ file: 'plugins.txt', problem: `plugin ${p.name} is not pinned: what installs (and the core it needs) is unknown until the image is built`, fix: `pin it under plugins: (${p.name}: "<version>") and add its pom's jenkins.version to catalog/jenkins-platform.ts` });
    } else if (!pin || pin.version !== p.version) {
      out.push({ file: 'plugins.txt', problem: `plugin ${p.name} ${p.version}: its required core is not recorded`, fix: pin ? `use ${pin.version} (required core ${pin.requiredCore}) or record ${p.version}'s pom jenkins.version in catalog/jenkins-platform.ts` : `record its pom's jenkins.version in catalog/jenkins-platform.ts` });
    } else if (core && compareVersions(pin.requiredCore, core) > 0) {
      out.push({ file: 'plugins.txt', problem: `plugin ${p.name} ${p.version} requires Jenkins ${pin.requiredCore}, but jenkins_base_image ${team.jenkins_base_image} is ${core}`, fix: `use jenkins_base_image ${PINNED_CORE.image}` });
    }
  }
  return out;
}

/** Every `${lookup:...}` prefix and every `${VAR}` / `${VAR:-default}` in a value; `^${` is escaped text. */
function references(value: string): { lookups: string[]; vars: Array<{ name: string; hasDefault: boolean }>; readFiles: string[] } {
  const text = value.replace(/\^\$\{/g, '');
  const lookups = [...text.matchAll(/\$\{([A-Za-z][A-Za-z0-9]*):(?!-)/g)].map((m) => m[1]);
  const vars = [...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)(\}|:-)/g)].map((m) => ({ name: m[1], hasDefault: m[2] === ':-' }));
  const readFiles = [...text.matchAll(/\$\{readFile:([^}]+)\}/g)].map((m) => m[1]);
  return { lookups, vars, readFiles };
}

/** `jcasc`: the configuration to check (the team's generated one unless a test hands in another). */
export function jcascProblems(team: Team, core: string | null, jcasc: Record<string, unknown> = buildJcasc(team, { cascDir: DEFAULT_CASC_DIR })): Problem[] {
  const out: Problem[] = [];
  const installed = new Map(teamPlugins(team).map((p) => [p.name, p.version]));
  const all: Leaf[] = [];
  leaves(jcasc, '', all);
  // What deploy gives the container, from deploy's own code.
  const spec = controllerContainerSpec({ team, environment: 'blue', image: 'verify', networking: { mode: 'host' } });
  const provided = new Set((spec.Env ?? []).map((e) => e.slice(0, e.indexOf('='))));
  for (const s of controllerEnvSecrets(team, { secretsRoot: '/verify', libraryDir: null })) provided.add(s.name);
  const mounted = controllerFileMounts(team, { secretsRoot: '/verify', libraryDir: null });
  if (mounted.some((m) => m.kind === 'library')) provided.add(LIBRARY_HOST_DIR_ENV);
  const casc = installed.get('configuration-as-code') ?? 'latest';
  for (const root of Object.keys(jcasc)) {
    const owner = CASC_ROOT_PLUGINS[root];
    if (!owner) out.push({ file: 'jenkins.yaml', problem: `root element ${root} is not one configuration-as-code knows with the pinned plugins`, fix: 'record its owner in catalog/jenkins-platform.ts CASC_ROOT_PLUGINS, or stop emitting it' });
    else if (owner !== 'core' && !installed.has(owner)) out.push({ file: 'jenkins.yaml', problem: `root element ${root} needs plugin ${owner}, which plugins.txt does not install`, fix: `add ${owner} under plugins:` });
  }
  for (const { path, value } of all) {
    const entry = keyEntry(path);
    if (!entry) out.push({ file: 'jenkins.yaml', problem: `key ${path} is not known to exist in the pinned plugins or core ${core ?? '?'}`, fix: 'look it up in the plugin source and record it in catalog/jenkins-platform.ts CASC_KEYS, or stop emitting it' });
    else if (entry.plugin !== 'core' && !installed.has(entry.plugin)) out.push({ file: 'jenkins.yaml', problem: `key ${path} needs plugin ${entry.plugin}, which plugins.txt does not install`, fix: `add ${entry.plugin} under plugins:` });
    if (typeof value !== 'string') continue;
    const refs = references(value);
    for (const name of refs.lookups) {
      const l = CASC_LOOKUPS.find((x) => x.name === name);
      if (!l) out.push({ file: 'jenkins.yaml', problem: `${path} uses \${${name}:...}, which configuration-as-code does not have`, fix: 'use readFile, base64, file, sysProp, decodeBase64, json or trim' });
      else if (casc === 'latest' || compareVersions(casc, l.since) < 0) out.push({ file: 'jenkins.yaml', problem: `${path} uses \${${name}:...}, which configuration-as-code ${casc} does not have (since ${l.since}): JCasC would leave the value mangled`, fix: `pin configuration-as-code ${pluginPin('configuration-as-code')?.version} on ${PINNED_CORE.image}` });
    }
    for (const v of refs.vars) {
      if (!v.hasDefault && !provided.has(v.name)) out.push({ file: 'jenkins.yaml', problem: `${path} reads \${${v.name}}, which environment.deploy does not give the controller (JCasC would use an empty string)`, fix: `give it as a secret ({env: ${v.name}}) or stop reading it` });
    }
    for (const f of refs.readFiles) {
      if (!mounted.some((m) => m.target === f)) out.push({ file: 'jenkins.yaml', problem: `${path} reads ${f}, which environment.deploy does not mount`, fix: 'name it in secrets.*.file so deploy mounts it' });
    }
  }
  return out;
}

/**
 * Labels in `label 'x'`, `label "x"` and `node('x')`, outside `//` comments: a comment such as
 * "the coordination node's envVars" must not read as a label.
 */
export function requestedLabels(text: string): string[] {
  const code = text.replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(/\blabel\s*\(?\s*(['"])([^'"\n]+)\1|\bnode\s*\(\s*(['"])([^'"\n]+)\3/g)].map((m) => m[2] ?? m[4]);
}

function providedLabels(team: Team): Set<string> {
  const out = new Set<string>();
  const jenkins = buildJcasc(team, { cascDir: DEFAULT_CASC_DIR }).jenkins as Record<string, unknown>;
  const all: Leaf[] = [];
  leaves({ clouds: jenkins.clouds ?? [], nodes: jenkins.nodes ?? [] }, '', all);
  for (const l of all) if (l.path.endsWith('.labelString') && typeof l.value === 'string') for (const w of l.value.split(/\s+/).filter(Boolean)) out.add(w);
  if (Number(jenkins.numExecutors) > 0) out.add('built-in');
  return out;
}

function labelAndMountProblems(team: Team, jenkinsfiles: ReadonlyMap<string, string>): Problem[] {
  const out: Problem[] = [];
  const provided = providedLabels(team);
  const seed = renderSeedJob(team);
  const files = new Map<string, string>([...jenkinsfiles, ['seedJob.groovy', seed]]);
  for (const [file, text] of files) {
    for (const label of new Set(requestedLabels(text))) {
      if (!provided.has(label)) out.push({ file, problem: `needs an agent labelled ${label}, but no node or cloud template of team ${team.team_name} carries it (the build would wait forever)`, fix: `provide a node with label ${label} (docs/coordination-agent.md) or a cloud template with it` });
    }
  }
  // The seed job clones the library on its agent: a file:// path must be mounted in that agent's template.
  const lib = team.shared_library.scm_url;
  if (lib.startsWith('file://')) {
    const path = lib.slice('file://'.length);
    const seedLabel = requestedLabels(seed)[0];
    const agent = team.dynamic_agents.agents.find((a) => a.labels.includes(seedLabel));
    const jcasc = JSON.stringify(buildJcasc(team, { cascDir: DEFAULT_CASC_DIR }));
    if (agent && !jcasc.includes(`destination=${path}`)) out.push({ file: 'seedJob.groovy', problem: `clones ${lib} on ${seedLabel}, where ${path} is not mounted`, fix: 'mount it in the agent template (mountsString)' });
  }
  const pipelines = team.self_management_config.pipelines_repository;
  if (pipelines.startsWith('file://') && pipelines !== lib) {
    out.push({ file: 'jenkins.yaml', problem: `the Infrastructure jobs read ${pipelines}, which environment.deploy does not mount (it mounts shared_library.scm_url ${lib})`, fix: 'use one repository for both, or a URL the controller can reach' });
  }
  return out;
}

function cloudAndUrlProblems(team: Team): Problem[] {
  const out: Problem[] = [];
  const cloud = team.jenkins_configuration.dynamic_agents && team.dynamic_agents.agents.length > 0;
  if (cloud && team.dynamic_agents.docker_host.startsWith('unix://') && !team.dynamic_agents.mount_docker_socket) {
    out.push({ file: 'jenkins.yaml', problem: `the Docker cloud uses ${team.dynamic_agents.docker_host}, which the controller container does not have: no agent would ever start`, fix: 'set dynamic_agents.mount_docker_socket: true (root-equivalent, docs/teams-file.md) or docker_host: tcp://host:port' });
  }
  if (!team.jenkins_configuration.public_url) {
    out.push({ file: 'jenkins.yaml', problem: 'no unclassified.location.url: builds would have no JENKINS_URL or BUILD_URL', fix: 'set jenkins_configuration.public_url to the address users reach the team at' });
  }
  return out;
}

/** Every problem of one team, in a stable order. `jenkinsfiles`: generated path -> text (pipelines/Jenkinsfile.*). */
export function teamConformance(team: Team, jenkinsfiles: ReadonlyMap<string, string>): Problem[] {
  const core = coreOfImage(team.jenkins_base_image);
  const out: Problem[] = [];
  if (!core) out.push({ file: 'Dockerfile', problem: `cannot tell the Jenkins core of jenkins_base_image ${team.jenkins_base_image}, so no plugin can be checked against it`, fix: `use an official tag such as ${PINNED_CORE.image}` });
  out.push(...pluginProblems(team, core), ...jcascProblems(team, core), ...labelAndMountProblems(team, jenkinsfiles), ...cloudAndUrlProblems(team));
  return out;
}

/** The line printed for one problem: `<teams file>: team <t>: <file>: <problem>; fix: <fix>`. */
export function formatProblem(teamsFile: string, team: string, p: Problem): string {
  const where = p.file.startsWith('pipelines/') ? p.file : `teams/${team}/${p.file}`;
  return `${teamsFile}: team ${team}: ${where}: ${p.problem}; fix: ${p.fix}`;
}

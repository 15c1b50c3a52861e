import { readFileSync, statSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { defaultBackendName, serverName } from './haproxy-names';
import { haproxySettingsSchema, type HaproxySettings } from './haproxy-settings';
import { PINNED_AGENT_IMAGE, PINNED_CORE } from './jenkins-platform';

/**
 * The teams file: the `jenkins_teams:` YAML list, read by library-gen and
 * by the sidecar (SIDECAR_TEAMS_FILE). Parsing is pure (`parseTeamsDocument`):
 * schema, then normalise (defaults, derived ports), then cross-team rules;
 * every problem is reported as `FILE: team T: field F: what is wrong`.
 */

/** Names that reach container names, HAProxy Runtime API lines, SQL and paths. */
export const TEAM_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,39}$/;
/** What the Runtime API accepts in a backend/server name (no spaces, `;`, newline). */
export const RUNTIME_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

export const ENVIRONMENTS = ['blue', 'green'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];
/** The environment a switch away from `env` goes to (and traffic on `env` comes from). */
export const otherEnvironment = (env: EnvironmentName): EnvironmentName => (env === 'blue' ? 'green' : 'blue');
/** Green listens on blue's ports + 100 (web and agent), so both run side by side on one host. */
export const GREEN_PORT_OFFSET = 100;

const port = z.number().int().min(1).max(65535 - GREEN_PORT_OFFSET);
const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h)$/, 'expected a duration such as 90s, 15m or 1h');

const selfManagementConfig = z
  .object({
    coordination_api_port: z.number().int().min(1).max(65535).default(8765),
    consensus_timeout: z.number().int().min(1).max(3600).default(300),
    state_backup_interval: duration.default('15m'),
    emergency_rollback_enabled: z.boolean().default(true),
    /** Git repository holding library-gen's output: the Job DSL jobs read their Jenkinsfiles from it (cpsScm). */
    pipelines_repository: z
      .string()
      .max(500)
      .regex(/^(https?|ssh|git|file):\/\/[A-Za-z0-9._~:/@%+-]+$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/+-]+$/, 'expected a git URL (https://, ssh://, git://, file:// or user@host:path)')
      .default('file:///var/lib/jenkins-selfmanage/library.git'),
    pipelines_branch: z.string().regex(/^[A-Za-z0-9._/-]{1,100}$/, 'expected a branch name').default('main'),
    pipelines_credentials_id: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/).optional(),
  })
  .strict();

/* ---------- Per-team Jenkins configuration (JCasC, plugins, image, agents) ---------- */

/** A Docker image reference: registry/name:tag or @digest, nothing a shell or YAML could misread. */
const IMAGE_REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;
const imageRef = z.string().regex(IMAGE_REF_PATTERN, 'expected a Docker image reference such as jenkins/jenkins:2.568.2-lts-jdk21');
/** Plugin short names as the update center spells them (e.g. configuration-as-code). */
export const PLUGIN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** A pinned plugin version (e.g. 1850.va_a_8c31d3158b_, 5.2.1) or `latest`. */
export const PLUGIN_VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;
/** One Jenkins label atom (labels are space-separated, so no spaces). */
const LABEL_ATOM_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const ABSOLUTE_PATH_PATTERN = /^\/[A-Za-z0-9_./-]{0,254}$/;
/** Jenkins user ids the generated jenkins.yaml creates (admin_user, jenkins_user). */
const JENKINS_USER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ENV_NAME_PATTERN = /^[A-Z_][A-Z0-9_]{0,99}$/;
const CREDENTIALS_ID_PATTERN = /^[A-Za-z0-9_.-]{1,100}$/;
/** Git remotes: https/http/ssh/git/file URLs or scp-like `git@host:path`; no spaces, quotes or `${`. */
const SCM_URL_PATTERN = /^((https?|ssh|git|file):\/\/[A-Za-z0-9@%._~:/+-]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/+-]+)$/;
const DOCKER_HOST_PATTERN = /^(unix:\/\/\/[A-Za-z0-9_./-]+|tcp:\/\/[A-Za-z0-9.-]+:\d{1,5})$/;

/** The four agent types (maven, python, nodejs, dind), in the order they are rendered. */
export const AGENT_TYPES = ['maven', 'python', 'nodejs', 'dind'] as const;
export type AgentType = (typeof AGENT_TYPES)[number];
// jenkins/jenkins-agent-<type> images are not published: every type defaults to the official
// jenkins/agent (java, git, remoting; jenkins-platform.ts). Set `image` to one FROM it with the type's tools.
const AGENT_DEFAULTS: Record<AgentType, { image: string; capabilities: string[]; privileged: boolean }> = {
  maven: { image: PINNED_AGENT_IMAGE.image, capabilities: ['java', 'git'], privileged: false },
  python: { image: PINNED_AGENT_IMAGE.image, capabilities: ['java', 'git'], privileged: false },
  nodejs: { image: PINNED_AGENT_IMAGE.image, capabilities: ['java', 'git'], privileged: false },
  dind: { image: PINNED_AGENT_IMAGE.image, capabilities: ['java', 'git'], privileged: true },
};
export const DEFAULT_JENKINS_BASE_IMAGE = PINNED_CORE.image;

const agentTypeSchema = z
  .object({
    enabled: z.boolean().default(true),
    image: imageRef.optional(),
    labels: z.array(z.string().regex(LABEL_ATOM_PATTERN, 'expected a label without spaces')).min(1).max(20).optional(),
    capabilities: z.array(z.string().regex(LABEL_ATOM_PATTERN, 'expected a capability word such as git')).max(20).optional(),
    privileged: z.boolean().optional(),
    instance_cap: z.number().int().min(1).max(100).default(4),
    remote_fs: z.string().regex(ABSOLUTE_PATH_PATTERN, 'expected an absolute path').default('/home/jenkins/agent'),
  })
  .strict();

const dynamicAgentsSchema = z
  .object({
    docker_host: z.string().regex(DOCKER_HOST_PATTERN, 'expected unix:///path or tcp://host:port').default('unix:///var/run/docker.sock'),
    /**
     * Mount the unix docker_host socket into the controller (with its group): whoever controls
     * the controller then controls the host's Docker, which is root on that host. Off unless said.
     */
    mount_docker_socket: z.boolean().default(false),
    maven_agents: agentTypeSchema.optional(),
    python_agents: agentTypeSchema.optional(),
    nodejs_agents: agentTypeSchema.optional(),
    dind_agents: agentTypeSchema.optional(),
  })
  .strict();

const sharedLibrarySchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'expected a library name of letters, digits, _ . -').default('jenkins-selfmanage'),
    scm_url: z.string().max(500).regex(SCM_URL_PATTERN, 'expected a git URL (https://, ssh://, git://, file:// or git@host:path)').optional(),
    default_version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_./-]{0,99}$/, 'expected a branch, tag or commit').optional(),
    credentials_id: z.string().regex(CREDENTIALS_ID_PATTERN).optional(),
    library_path: z.string().regex(/^([A-Za-z0-9_.-]+\/)*$/, 'expected a relative directory ending in / (or empty)').default('library/'),
  })
  .strict();

/** A secret the controller reads at start: a file (Docker/Kubernetes secret) or an environment variable. */
const secretSourceSchema = z.union([
  z.object({ file: z.string().regex(ABSOLUTE_PATH_PATTERN, 'expected an absolute path') }).strict(),
  z.object({ env: z.string().regex(ENV_NAME_PATTERN, 'expected an environment variable name such as SIDECAR_TOKEN') }).strict(),
]);

const secretsSchema = z
  .object({
    sidecar_token: secretSourceSchema.default({ file: '/run/secrets/sidecar-token' }),
    admin_password: secretSourceSchema.default({ file: '/run/secrets/jenkins-admin-password' }),
    service_password: secretSourceSchema.default({ file: '/run/secrets/jenkins-service-password' }),
  })
  .strict();

const jenkinsConfigurationSchema = z
  .object({
    // Descriptive keys of the teams file; only these values are implemented.
    type: z.literal('declarative').default('declarative'),
    deployment: z.literal('container-embedded').default('container-embedded'),
    team_isolation: z.literal(true).default(true),
    dynamic_agents: z.boolean().default(true),
    controller_executors: z.number().int().min(0).max(16).default(0),
    admin_user: z.string().regex(JENKINS_USER_PATTERN, 'expected a Jenkins user id: letters, digits, _ . - (max 64), starting with a letter or digit').default('admin'),
    system_message: z.string().max(500).regex(/^[^\r\n]*$/, 'expected one line').optional(),
    /** The address users reach this team at (through HAProxy): JCasC unclassified.location.url, so builds get JENKINS_URL and BUILD_URL. */
    public_url: z
      .string()
      .max(500)
      .regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~/-]*)?$/, 'expected an http(s) URL such as https://jenkins.example.com/devops/')
      .transform((u) => (u.endsWith('/') ? u : `${u}/`))
      .optional(),
    seed_job_label: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'expected one label').optional(),
    // Every logged-in user administers these controllers (loggedInUsersCanDoAnything), so Job DSL's
    // script approval would only block the generated seed job on each fresh environment.
    job_dsl_script_security: z.boolean().default(false),
  })
  .strict();

export type SecretSource = z.output<typeof secretSourceSchema>;

export interface TeamAgent {
  type: AgentType;
  labels: string[];
  image: string;
  capabilities: string[];
  privileged: boolean;
  instance_cap: number;
  remote_fs: string;
}

/** Per-team webhooks around a switch: http(s) URLs only (the sidecar POSTs JSON to them). */
const webhookUrl = z
  .string()
  .max(2000)
  .url()
  .regex(/^https?:\/\//, 'expected an http:// or https:// URL');
const webhooksSchema = z
  .object({ pre_switch: webhookUrl.optional(), step: webhookUrl.optional(), promoted: webhookUrl.optional(), rolled_back: webhookUrl.optional() })
  .strict();

/** The team's progressive_traffic settings the sidecar applies to its switches. */
const progressiveTrafficSchema = z
  .object({
    /** A pause (traffic.pause, or an approval gate) nobody resumes within this many seconds rolls the switch back. */
    max_pause_sec: z.number().int().min(1).max(86_400).default(3_600),
  })
  .strict();

const teamSchema = z
  .object({
    team_name: z.string().regex(TEAM_NAME_PATTERN, 'expected lower-case letters, digits, - or _ (max 40), starting with a letter'),
    active_environment: z.enum(ENVIRONMENTS).default('blue'),
    blue_green_enabled: z.boolean().default(true),
    self_management_enabled: z.boolean().default(false),
    coordination_role: z.enum(['coordinator', 'participant']).default('participant'),
    self_management_config: selfManagementConfig.default(() => selfManagementConfig.parse({})),
    image: z.string().min(1).max(255).regex(/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/, 'expected a Docker image reference').optional(),
    web_port: port.default(8080),
    agent_port: port.default(50000),
    haproxy_backend: z.string().regex(RUNTIME_NAME_PATTERN, 'expected only [A-Za-z0-9_.:-]').optional(),
    // A user id in jenkins.yaml's local realm: a pattern, not escaping, so `${readFile:...}` (which JCasC
    // would resolve into a visible user name), quotes and newlines never get there; as admin_user.
    jenkins_user: z.string().regex(JENKINS_USER_PATTERN, 'expected a Jenkins user id: letters, digits, _ . - (max 64), starting with a letter or digit').default('sidecar'),
    jenkins_token_file: z.string().regex(ABSOLUTE_PATH_PATTERN, 'expected an absolute path').optional(),
    jenkins_url_blue: z.string().url().optional(),
    jenkins_url_green: z.string().url().optional(),
    sidecar_credentials_id: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/).default('sidecar-token'),
    required_agents: z.array(z.string().min(1).max(100).regex(/^[^\p{Cc}]+$/u, 'expected an agent (node) name')).max(100).default([]),
    webhooks: webhooksSchema.optional(),
    jenkins_base_image: imageRef.default(DEFAULT_JENKINS_BASE_IMAGE),
    plugins: z
      .record(z.string(), z.string().regex(PLUGIN_VERSION_PATTERN, 'expected a plugin version or latest'))
      // Checked here rather than as the record's key schema, whose errors do not say what is expected.
      .superRefine((plugins, ctx) => {
        for (const name of Object.keys(plugins)) {
          if (!PLUGIN_NAME_PATTERN.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'expected a plugin short name such as configuration-as-code' });
        }
      })
      .default({}),
    shared_library: sharedLibrarySchema.default(() => sharedLibrarySchema.parse({})),
    dynamic_agents: dynamicAgentsSchema.default(() => dynamicAgentsSchema.parse({})),
    jenkins_configuration: jenkinsConfigurationSchema.default(() => jenkinsConfigurationSchema.parse({})),
    secrets: secretsSchema.default(() => secretsSchema.parse({})),
    progressive_traffic: progressiveTrafficSchema.default(() => progressiveTrafficSchema.parse({})),
  })
  .strict();

export type TeamInput = z.input<typeof teamSchema>;

export interface Team {
  team_name: string;
  active_environment: EnvironmentName;
  blue_green_enabled: boolean;
  self_management_enabled: boolean;
  coordination_role: 'coordinator' | 'participant';
  self_management_config: z.output<typeof selfManagementConfig>;
  image: string;
  web_port: number;
  agent_port: number;
  haproxy_backend: string;
  jenkins_user: string;
  jenkins_token_file: string | undefined;
  sidecar_credentials_id: string;
  required_agents: string[];
  /** URLs the sidecar POSTs to around a switch (admin config, never call params). */
  webhooks: { preSwitch?: string; step?: string; promoted?: string; rolledBack?: string };
  /** FROM of the team's Dockerfile (the official jenkins/jenkins or a derivative). */
  jenkins_base_image: string;
  /** Plugin pins and extra plugins (short name -> version or `latest`), merged over the defaults. */
  plugins: Record<string, string>;
  /** The generated library as Jenkins loads it; URL, version and credentials default to self_management_config's pipelines_* (the same repository). */
  shared_library: { name: string; scm_url: string; default_version: string; credentials_id: string | undefined; library_path: string };
  /** Docker cloud endpoint and the enabled agent types, labels resolved. */
  dynamic_agents: { docker_host: string; mount_docker_socket: boolean; agents: TeamAgent[] };
  jenkins_configuration: z.output<typeof jenkinsConfigurationSchema>;
  secrets: z.output<typeof secretsSchema>;
  progressive_traffic: z.output<typeof progressiveTrafficSchema>;
  /** Derived: per-environment ports and controller URLs. */
  environments: Record<EnvironmentName, { web_port: number; agent_port: number; url: string; server: string; container: string }>;
}

export interface TeamsParseResult {
  teams: Team[];
  errors: string[];
  /** The top-level `haproxy:` section, defaults filled in (catalog/haproxy-settings.ts); absent when the file has errors. */
  haproxy?: HaproxySettings;
}

const fileSchema = z.object({ jenkins_teams: z.array(z.unknown()), haproxy: z.unknown().optional() }).strict();

function describeIssue(file: string, where: string, issue: z.core.$ZodIssue): string {
  const field = issue.path.map(String).join('.');
  return `${file}: ${where}${field ? `: field ${field}` : ''}: ${issue.message}`;
}

function normalise(t: z.output<typeof teamSchema>): Team {
  const envs = {} as Team['environments'];
  for (const env of ENVIRONMENTS) {
    const off = env === 'green' ? GREEN_PORT_OFFSET : 0;
    const webPort = t.web_port + off;
    const explicit = env === 'blue' ? t.jenkins_url_blue : t.jenkins_url_green;
    envs[env] = {
      web_port: webPort,
      agent_port: t.agent_port + off,
      url: explicit ?? `http://127.0.0.1:${webPort}`,
      server: serverName(t.team_name, env),
      container: `jenkins-${t.team_name}-${env}`,
    };
  }
  return {
    team_name: t.team_name,
    active_environment: t.active_environment,
    blue_green_enabled: t.blue_green_enabled,
    self_management_enabled: t.self_management_enabled,
    coordination_role: t.coordination_role,
    self_management_config: t.self_management_config,
    image: t.image ?? `jenkins-custom-${t.team_name}:latest`,
    web_port: t.web_port,
    agent_port: t.agent_port,
    haproxy_backend: t.haproxy_backend ?? defaultBackendName(t.team_name),
    jenkins_user: t.jenkins_user,
    jenkins_token_file: t.jenkins_token_file,
    sidecar_credentials_id: t.sidecar_credentials_id,
    required_agents: t.required_agents,
    webhooks: {
      ...(t.webhooks?.pre_switch ? { preSwitch: t.webhooks.pre_switch } : {}),
      ...(t.webhooks?.step ? { step: t.webhooks.step } : {}),
      ...(t.webhooks?.promoted ? { promoted: t.webhooks.promoted } : {}),
      ...(t.webhooks?.rolled_back ? { rolledBack: t.webhooks.rolled_back } : {}),
    },
    jenkins_base_image: t.jenkins_base_image,
    plugins: t.plugins,
    shared_library: resolveSharedLibrary(t.shared_library, t.self_management_config),
    dynamic_agents: { docker_host: t.dynamic_agents.docker_host, mount_docker_socket: t.dynamic_agents.mount_docker_socket, agents: resolveAgents(t.team_name, t.dynamic_agents) },
    jenkins_configuration: t.jenkins_configuration,
    secrets: t.secrets,
    progressive_traffic: t.progressive_traffic,
    environments: envs,
  };
}

/**
 * The library lives in the repository library-gen's output is pushed to, which the
 * self-management jobs also read (self_management_config.pipelines_*): unless the
 * teams file says otherwise, register the library from there.
 */
function resolveSharedLibrary(lib: z.output<typeof sharedLibrarySchema>, smc: z.output<typeof selfManagementConfig>): Team['shared_library'] {
  return {
    name: lib.name,
    scm_url: lib.scm_url ?? smc.pipelines_repository,
    default_version: lib.default_version ?? smc.pipelines_branch,
    credentials_id: lib.credentials_id ?? smc.pipelines_credentials_id,
    library_path: lib.library_path,
  };
}

/** Enabled agent types with their defaults; labels `<team>-<type> <type>-<team>` (dind also `docker-<team>`). */
function resolveAgents(team: string, cfg: z.output<typeof dynamicAgentsSchema>): TeamAgent[] {
  const out: TeamAgent[] = [];
  for (const type of AGENT_TYPES) {
    const given = cfg[`${type}_agents`] ?? agentTypeSchema.parse({});
    if (!given.enabled) continue;
    const def = AGENT_DEFAULTS[type];
    const labels = given.labels ?? [`${team}-${type}`, `${type}-${team}`, ...(type === 'dind' ? [`docker-${team}`] : [])];
    out.push({
      type,
      labels,
      image: given.image ?? def.image,
      capabilities: given.capabilities ?? def.capabilities,
      privileged: given.privileged ?? def.privileged,
      instance_cap: given.instance_cap,
      remote_fs: given.remote_fs,
    });
  }
  return out;
}

/** Pure: YAML text in, teams and every problem out. Nothing is written. */
export function parseTeamsDocument(text: string, file: string): TeamsParseResult {
  const errors: string[] = [];
  const size = Buffer.byteLength(text, 'utf8');
  if (size > TEAMS_FILE_MAX_BYTES) return { teams: [], errors: [`${file}: ${size} bytes; a teams file is at most ${TEAMS_FILE_MAX_BYTES} bytes`] };
  // Hostile YAML (an alias bomb, nesting deep enough to overflow the parser's stack) throws: say so naming the file.
  let value: unknown;
  try {
    const doc = parseDocument(text, { prettyErrors: false });
    if (doc.errors.length > 0) {
      return { teams: [], errors: doc.errors.map((e) => `${file}: YAML: ${e.message.split('\n')[0]}`) };
    }
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const why = err instanceof RangeError ? 'nested too deeply' : String((err as Error)?.message ?? err).split('\n')[0];
    return { teams: [], errors: [`${file}: YAML: ${why}`] };
  }
  const top = fileSchema.safeParse(value);
  if (!top.success) {
    return { teams: [], errors: top.error.issues.map((i) => describeIssue(file, 'top level', i)) };
  }
  const teams: Team[] = [];
  top.data.jenkins_teams.forEach((raw, index) => {
    const name =
      raw && typeof raw === 'object' && typeof (raw as Record<string, unknown>).team_name === 'string'
        ? String((raw as Record<string, unknown>).team_name)
        : undefined;
    const where = name ? `team ${name} (jenkins_teams[${index}])` : `jenkins_teams[${index}]`;
    const parsed = teamSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) errors.push(describeIssue(file, where, issue));
      return;
    }
    teams.push(normalise(parsed.data));
  });

  // Cross-team rules: names unique, no two teams claim one port (blue or green).
  const seenNames = new Map<string, number>();
  const seenPorts = new Map<number, string>();
  for (const team of teams) {
    if (seenNames.has(team.team_name)) {
      errors.push(`${file}: team ${team.team_name}: field team_name: defined more than once`);
    }
    seenNames.set(team.team_name, 1);
    for (const env of ENVIRONMENTS) {
      for (const key of ['web_port', 'agent_port'] as const) {
        const p = team.environments[env][key];
        const owner = seenPorts.get(p);
        const label = `${team.team_name}/${env}/${key}`;
        if (owner) errors.push(`${file}: team ${team.team_name}: field ${key}: port ${p} (${env}) is already used by ${owner}`);
        else seenPorts.set(p, label);
      }
    }
  }
  for (const team of teams) errors.push(...jenkinsConfigurationProblems(team, file));
  const haproxy = haproxySettingsSchema.safeParse(top.data.haproxy ?? {});
  if (!haproxy.success) for (const issue of haproxy.error.issues) errors.push(describeIssue(file, 'haproxy', issue));
  else if (haproxy.data.default_team && !teams.some((t) => t.team_name === haproxy.data.default_team)) {
    errors.push(`${file}: haproxy: field default_team: ${haproxy.data.default_team} is not in jenkins_teams`);
  }
  return errors.length || !haproxy.success ? { teams: [], errors } : { teams, errors, haproxy: haproxy.data };
}

/** Per-team rules on the Jenkins configuration that a schema cannot express. */
function jenkinsConfigurationProblems(team: Team, file: string): string[] {
  const where = `${file}: team ${team.team_name}`;
  const problems: string[] = [];
  const cfg = team.jenkins_configuration;
  const hasAgents = cfg.dynamic_agents && team.dynamic_agents.agents.length > 0;
  if (team.self_management_enabled && cfg.controller_executors === 0 && !hasAgents && !cfg.seed_job_label) {
    problems.push(
      `${where}: field jenkins_configuration.controller_executors: the seed job has nowhere to run (no controller executors and no agent type enabled); set controller_executors > 0, enable an agent type or name seed_job_label`,
    );
  }
  const seen = new Map<string, string>();
  for (const agent of team.dynamic_agents.agents) {
    for (const label of agent.labels) {
      const other = seen.get(label);
      if (other) problems.push(`${where}: field dynamic_agents.${agent.type}_agents.labels: label ${label} is already used by ${other}_agents`);
      else seen.set(label, agent.type);
    }
  }
  return problems;
}

/** A teams file of hundreds of teams is tens of KB; the bound keeps a stray 50 MB file from being read whole. */
export const TEAMS_FILE_MAX_BYTES = 1024 * 1024;

/** Thin loader: reads the file, then parses. Errors name the file. */
export function loadTeamsFile(path: string): TeamsParseResult {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > TEAMS_FILE_MAX_BYTES) return { teams: [], errors: [`${path}: ${size} bytes; a teams file is at most ${TEAMS_FILE_MAX_BYTES} bytes`] };
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { teams: [], errors: [`${path}: cannot read: ${(err as Error).message}`] };
  }
  return parseTeamsDocument(text, path);
}

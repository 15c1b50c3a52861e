import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';

/**
 * The teams file: the seed's `jenkins_teams:` YAML list, read by library-gen and
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
/** Green listens on blue's ports + 100 (seed: "Production-Grade Port Architecture"). */
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
    jenkins_user: z.string().min(1).max(100).default('sidecar'),
    jenkins_token_file: z.string().min(1).optional(),
    jenkins_url_blue: z.string().url().optional(),
    jenkins_url_green: z.string().url().optional(),
    sidecar_credentials_id: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/).default('sidecar-token'),
    required_agents: z.array(z.string().min(1).max(100)).default([]),
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
  /** Derived: per-environment ports and controller URLs. */
  environments: Record<EnvironmentName, { web_port: number; agent_port: number; url: string; server: string; container: string }>;
}

export interface TeamsParseResult {
  teams: Team[];
  errors: string[];
}

const fileSchema = z.object({ jenkins_teams: z.array(z.unknown()) }).strict();

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
      server: `${t.team_name}-${env}`,
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
    haproxy_backend: t.haproxy_backend ?? `jenkins_backend_${t.team_name}`,
    jenkins_user: t.jenkins_user,
    jenkins_token_file: t.jenkins_token_file,
    sidecar_credentials_id: t.sidecar_credentials_id,
    required_agents: t.required_agents,
    environments: envs,
  };
}

/** Pure: YAML text in, teams and every problem out. Nothing is written. */
export function parseTeamsDocument(text: string, file: string): TeamsParseResult {
  const errors: string[] = [];
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) {
    return { teams: [], errors: doc.errors.map((e) => `${file}: YAML: ${e.message.split('\n')[0]}`) };
  }
  const top = fileSchema.safeParse(doc.toJS());
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
  return errors.length ? { teams: [], errors } : { teams, errors };
}

/** Thin loader: reads the file, then parses. Errors name the file. */
export function loadTeamsFile(path: string): TeamsParseResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { teams: [], errors: [`${path}: cannot read: ${(err as Error).message}`] };
  }
  return parseTeamsDocument(text, path);
}

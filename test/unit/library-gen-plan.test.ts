import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareWithDisk, hasDrift, writePlan } from '../../library-gen/src/apply-plan';
import { planFromTeamsText } from '../../library-gen/src/plan';
import { loadTemplates } from '../../library-gen/src/template-source';
import { METHODS } from '../../catalog/methods';
import { STEPS } from '../../catalog/steps';

const root = join(__dirname, '..', '..');
const templates = loadTemplates(root);
const examples = readFileSync(join(root, 'examples', 'teams.yml'), 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'jsm-libgen-unit-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function plan(text = examples) {
  const r = planFromTeamsText(text, 'examples/teams.yml', templates);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.plan;
}

describe('library-gen plan', () => {
  it('writes teams/<team>/{Dockerfile, jenkins.yaml, plugins.txt, seedJob.groovy} for every self-managed team, and only for those', () => {
    const p = plan();
    const teamDirs = [...new Set([...p.keys()].filter((k) => k.startsWith('teams/')).map((k) => k.split('/')[1]))].sort();
    expect(teamDirs.length).toBeGreaterThanOrEqual(2);
    for (const t of teamDirs) {
      expect([...p.keys()].filter((k) => k.startsWith(`teams/${t}/`)).sort()).toEqual(
        ['Dockerfile', 'jenkins.yaml', 'plugins.txt', 'seedJob.groovy'].map((f) => `teams/${t}/${f}`),
      );
    }
    const selfManaged = examples.match(/self_management_enabled: true/g)?.length ?? 0;
    expect(teamDirs).toHaveLength(selfManaged);
  });

  it('holds every file the brief lists', () => {
    const p = plan();
    for (const step of STEPS) {
      expect(p.has(`library/vars/${step.name}.groovy`)).toBe(true);
      expect(p.has(`library/vars/${step.name}.txt`)).toBe(true);
    }
    for (const f of [
      'pipelines/Jenkinsfile.self-managed-switch',
      'pipelines/Jenkinsfile.infrastructure-coordination',
      'pipelines/Jenkinsfile.emergency-rollback',
      'pipelines/Jenkinsfile.backup',
      'jobdsl/self-management.groovy',
      'haproxy/haproxy.cfg',
      'monitoring/prometheus-rules.yml',
      'monitoring/grafana-dashboard.json',
      'systemd/jenkins-sidecar.service',
      'docs/steps.md',
      'docs/rpc-contract.md',
      'library/resources/deploy-jenkins-environment.yml',
      'library/resources/jsm/teams.json',
    ]) {
      expect(p.has(f)).toBe(true);
    }
  });

  it('covers every step the seed pipelines call', () => {
    const names = new Set(STEPS.map((s) => s.name));
    for (const n of [
      'establishCoordinationLeadership', 'requestInfrastructureConsensus', 'acquireInfrastructureLock', 'releaseInfrastructureLock',
      'executeAnsiblePlaybook', 'progressiveTrafficSwitch', 'migrateRuntimeState', 'validateEnvironmentHealth', 'getCurrentEnvironment',
      'getPreviousEnvironment', 'updateCoordinationState', 'executeEmergencyRollback', 'setupCoordination', 'buildConsensus', 'coordinatedExecution',
      'withInfrastructureLock', 'createBackup', 'getBreakerStatus',
    ]) {
      expect(names.has(n)).toBe(true);
    }
  });

  it('is deterministic: the same input gives the same bytes, in sorted order', () => {
    const a = plan();
    const b = plan();
    expect([...a.entries()]).toEqual([...b.entries()]);
    const paths = [...a.keys()];
    expect(paths).toEqual([...paths].sort());
    for (const text of a.values()) expect(text.endsWith('\n')).toBe(true);
  });

  it('puts per-team settings into resources and self-managed teams into the Job DSL', () => {
    const p = plan();
    expect(JSON.parse(p.get('library/resources/jsm/teams.json')!)).toEqual({
      ba: { credentialsId: 'sidecar-token', sidecarUrl: 'ws://127.0.0.1:8765/rpc' },
      devops: { credentialsId: 'sidecar-token', sidecarUrl: 'ws://127.0.0.1:8765/rpc' },
      ma: { credentialsId: 'sidecar-token-ma', sidecarUrl: 'ws://127.0.0.1:8765/rpc' },
    });
    const dsl = p.get('jobdsl/self-management.groovy')!;
    expect(dsl).toContain("name: 'devops'");
    expect(dsl).toContain("name: 'ma'");
    expect(dsl).not.toContain("name: 'ba'");
  });

  it('keeps teams-file text out of code: values are single-quoted Groovy literals', () => {
    const text = examples.replace('pipelines_branch: main', "pipelines_branch: feat/it's-$x");
    const r = planFromTeamsText(text, 't.yml', templates);
    // The branch pattern refuses quotes and dollars: the teams file is checked first.
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toMatch(/team devops .*field self_management_config\.pipelines_branch/);
  });

  it('docs/steps.md in the repository is the generated one', () => {
    expect(readFileSync(join(root, 'docs', 'steps.md'), 'utf8')).toBe(plan().get('docs/steps.md'));
  });

  it('docs/rpc-contract.md in the repository is the generated one, naming every method of the catalog', () => {
    const generated = plan().get('docs/rpc-contract.md');
    expect(readFileSync(join(root, 'docs', 'rpc-contract.md'), 'utf8')).toBe(generated);
    for (const name of METHODS.keys()) expect(generated).toContain(`| \`${name}\` |`);
  });
});

describe('plan, then apply', () => {
  it('a bad teams file names file, team and field, and nothing is written', () => {
    const out = join(scratch, 'bad');
    const r = planFromTeamsText(examples.replace('web_port: 8081', 'web_port: eighty'), 'examples/teams.yml', templates);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toEqual([expect.stringMatching(/^examples\/teams\.yml: team ma \(jenkins_teams\[1\]\): field web_port: /)]);
    expect(existsSync(out)).toBe(false);
  });

  it('writes, finds no drift, then detects a hand edit, a missing file and a stray file', () => {
    const out = join(scratch, 'out');
    const p = plan();
    const first = writePlan(out, p);
    expect(first.missing.length).toBe(p.size);
    expect(hasDrift(compareWithDisk(out, p))).toBe(false);
    const second = writePlan(out, p);
    expect(second).toEqual({ missing: [], changed: [], extra: [] });

    writeFileSync(join(out, 'pipelines', 'Jenkinsfile.backup'), 'hand edit\n');
    rmSync(join(out, 'haproxy', 'haproxy.cfg'));
    writeFileSync(join(out, 'library', 'vars', 'stale.groovy'), '// left over\n');
    writeFileSync(join(out, 'README.md'), 'not ours\n');
    expect(compareWithDisk(out, p)).toEqual({ missing: ['haproxy/haproxy.cfg'], changed: ['pipelines/Jenkinsfile.backup'], extra: ['library/vars/stale.groovy'] });
    writePlan(out, p);
    expect(hasDrift(compareWithDisk(out, p))).toBe(false);
    expect(readdirSync(out).sort()).toEqual(['README.md', 'docs', 'haproxy', 'jobdsl', 'library', 'monitoring', 'pipelines', 'systemd', 'teams']);
  });
});

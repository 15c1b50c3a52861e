import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { SIDECAR_METRICS } from '../../catalog/metric-names';

/**
 * `library-gen build` as users run it (the built CLI), and the real tools that
 * must accept what it writes: groovyc (Groovy 2.4, the syntax Jenkins runs),
 * promtool, haproxy -c, systemd-analyze verify. (npm-groovy-lint runs in
 * library-gen-lint.test.ts: it is slow.)
 */
const root = join(__dirname, '..', '..');
const cli = join(root, 'build', 'library-gen', 'src', 'bin', 'library-gen.js');
const examples = join(root, 'examples', 'teams.yml');
const scratch = mkdtempSync(join(tmpdir(), 'jsm-libgen-gates-'));
const out = join(scratch, 'dist');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function libraryGen(...args: string[]) {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

function digest(dir: string): Record<string, string> {
  const d: Record<string, string> = {};
  for (const f of files(dir).sort()) d[relative(dir, f)] = createHash('sha256').update(readFileSync(f)).digest('hex');
  return d;
}

beforeAll(() => {
  const r = libraryGen('build', '--teams', examples, '--out', out);
  if (r.status !== 0) throw new Error(`library-gen build failed: ${r.stderr}`);
});

describe('library-gen build (CLI)', () => {
  it('writes the library, pipelines, Job DSL, HAProxy, monitoring, systemd and docs', () => {
    for (const f of ['library/vars/acquireInfrastructureLock.groovy', 'library/vars/acquireInfrastructureLock.txt', 'pipelines/Jenkinsfile.self-managed-switch', 'jobdsl/self-management.groovy', 'haproxy/haproxy.cfg', 'monitoring/prometheus-rules.yml', 'monitoring/grafana-dashboard.json', 'systemd/jenkins-sidecar.service', 'docs/steps.md']) {
      expect(existsSync(join(out, f))).toBe(true);
    }
  });

  it('gives identical bytes when run again, and --check agrees', () => {
    const before = digest(out);
    const again = libraryGen('build', '--teams', examples, '--out', out);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/0 new, 0 changed, 0 removed/);
    expect(digest(out)).toEqual(before);
    const check = libraryGen('build', '--teams', examples, '--out', out, '--check');
    expect(check.status).toBe(0);
  });

  it('--check fails after a hand edit and names the file', () => {
    const copy = join(scratch, 'edited');
    cpSync(out, copy, { recursive: true });
    writeFileSync(join(copy, 'library', 'vars', 'getCurrentEnvironment.groovy'), '// hand edit\n', { flag: 'a' });
    const check = libraryGen('build', '--teams', examples, '--out', copy, '--check');
    expect(check.status).toBe(1);
    expect(check.stderr).toContain('differs: library/vars/getCurrentEnvironment.groovy');
  });

  it('a bad field fails with file, team and field named, and writes nothing', () => {
    const bad = join(scratch, 'bad-teams.yml');
    writeFileSync(bad, readFileSync(examples, 'utf8').replace('coordination_role: coordinator', 'coordination_role: dictator'));
    const target = join(scratch, 'never');
    const r = libraryGen('build', '--teams', bad, '--out', target);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`library-gen: ${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: team devops \\(jenkins_teams\\[0\\]\\): field coordination_role: `));
    expect(r.stderr).toContain('nothing written');
    expect(existsSync(target)).toBe(false);
  });
});

describe('library-gen verify (CLI)', () => {
  it('exits 1 with one line per problem naming the teams file, the team, the generated file and the fix', () => {
    const bad = join(scratch, 'old-core.yml');
    writeFileSync(bad, ['jenkins_teams:', '  - team_name: legacy', '    self_management_enabled: true', '    jenkins_base_image: jenkins/jenkins:2.479.3-lts-jdk17'].join('\n'));
    const r = libraryGen('verify', '--teams', bad);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toContain(
      `library-gen: ${bad}: team legacy: teams/legacy/plugins.txt: plugin configuration-as-code 2117.vc05a_0b_e6b_f4e requires Jenkins 2.541.1, but jenkins_base_image jenkins/jenkins:2.479.3-lts-jdk17 is 2.479.3; fix: use jenkins_base_image jenkins/jenkins:2.568.2-lts-jdk21`,
    );
    expect(lines.every((l) => l.startsWith(`library-gen: ${bad}: team legacy: `) && l.includes('; fix: '))).toBe(true);
  });

  it('on examples/teams.yml reports nothing and exits 0', () => {
    const r = libraryGen('verify', '--teams', examples);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`library-gen: ${examples}: 2 self-managed team(s) conform to the pinned Jenkins`);
    expect(r.status).toBe(0);
  });
});

describe('the generated files pass the real tools', () => {
  it('groovyc (Groovy 2.4) compiles every generated Groovy file and Jenkinsfile', () => {
    const src = join(scratch, 'groovyc-src');
    mkdirSync(src);
    const groovy = files(out).filter((f) => f.endsWith('.groovy') || /Jenkinsfile\./.test(f));
    for (const f of groovy) {
      // groovyc does not accept `@Library('x') _`; Jenkins strips it before compiling too.
      const text = readFileSync(f, 'utf8').replace(/^@Library\(.*\)\s*_?\s*$/gm, '');
      writeFileSync(join(src, `${relative(out, f).replace(/[^A-Za-z0-9]/g, '_')}.groovy`), text);
    }
    // Stand-ins for the Jenkins classes the generated code names (on a real controller, its classpath).
    // Every stand-in the harness keeps for a Jenkins or plugin class (com/, org/, hudson/, jenkins/ under test/groovy).
    const stubs = ['com', 'org', 'hudson', 'jenkins'].flatMap((top) => groovyFilesUnder(join(root, 'test', 'groovy', top)));
    const r = spawnSync('groovyc', ['-d', join(scratch, 'classes'), ...stubs, ...readdirSync(src).map((n) => join(src, n))], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, JAVA_HOME: '/usr/lib/jvm/java-17-openjdk-amd64' },
    });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
    expect(groovy.length).toBeGreaterThan(20);
  });

  it('promtool accepts the alert rules; they cover the seed alerts and use only sidecar_* metrics listed in SIDECAR_METRICS', () => {
    const rules = join(out, 'monitoring', 'prometheus-rules.yml');
    const r = spawnSync('promtool', ['check', 'rules', rules], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 8 rules found/);
    const text = readFileSync(rules, 'utf8');
    for (const alert of ['SelfManagementFailure', 'ConsensusTimeout', 'EmergencyRollbackTriggered', 'CoordinationDatabaseFailure', 'DeploymentDurationExceeded', 'RollbackRateHigh', 'ManualInterventionRequired', 'ExternalMonitoringDegraded']) {
      expect(text).toContain(`alert: Jsm${alert}`);
    }
    const used = new Set([...text.matchAll(/\b(sidecar_[a-z_]+?)(_bucket|_sum|_count)?\b/g)].map((m) => m[1]));
    const dashboard = readFileSync(join(out, 'monitoring', 'grafana-dashboard.json'), 'utf8');
    for (const m of dashboard.matchAll(/\b(sidecar_[a-z_]+?)(_bucket|_sum|_count)?\b/g)) used.add(m[1]);
    expect([...used].filter((m) => !(m! in SIDECAR_METRICS))).toEqual([]);
    expect(JSON.parse(dashboard).panels.length).toBeGreaterThan(8);
  });

  it('promtool unit-tests an alert: the coordination database down for a minute fires JsmCoordinationDatabaseFailure', () => {
    const testFile = join(scratch, 'rules-test.yml');
    writeFileSync(
      testFile,
      [
        'rule_files:',
        `  - ${join(out, 'monitoring', 'prometheus-rules.yml')}`,
        'evaluation_interval: 15s',
        'tests:',
        '  - interval: 15s',
        '    input_series:',
        "      - series: 'sidecar_dependency_up{dependency=\"postgres\",instance=\"host1:8765\"}'",
        "        values: '1 1 0 0 0 0 0 0 0 0'",
        '    alert_rule_test:',
        '      - eval_time: 2m',
        '        alertname: JsmCoordinationDatabaseFailure',
        '        exp_alerts:',
        '          - exp_labels: {severity: critical, component: jenkins-selfmanage, instance: "host1:8765"}',
        '            exp_annotations:',
        "              summary: 'Sidecar host1:8765 cannot reach the coordination database'",
        "              description: 'Locks, consensus and the operations journal are unavailable; no switch can start.'",
        '',
      ].join('\n'),
    );
    const r = spawnSync('promtool', ['test', 'rules', testFile], { encoding: 'utf8', timeout: 30_000 });
    expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('promtool unit-tests the operation alerts on the sidecar_* series the sidecar exports: a rollback and a failed switch fire', () => {
    const testFile = join(scratch, 'rules-test-operations.yml');
    writeFileSync(
      testFile,
      [
        'rule_files:',
        `  - ${join(out, 'monitoring', 'prometheus-rules.yml')}`,
        'evaluation_interval: 15s',
        'tests:',
        '  - interval: 1m',
        '    input_series:',
        "      - series: 'sidecar_rollbacks_total{team=\"devops\",kind=\"automatic\",instance_id=\"h1\"}'",
        "        values: '0 0 1 1 1'",
        "      - series: 'sidecar_operations_total{team=\"devops\",type=\"traffic.switch\",result=\"failed\",instance_id=\"h1\"}'",
        "        values: '0 0 0 1 1'",
        "      - series: 'sidecar_operations_awaiting_intervention{team=\"devops\",instance_id=\"h1\"}'",
        "        values: '0 0 0 1 1'",
        '    alert_rule_test:',
        '      - eval_time: 4m',
        '        alertname: JsmEmergencyRollbackTriggered',
        '        exp_alerts:',
        '          - exp_labels: {severity: critical, component: jenkins-selfmanage, team: devops, kind: automatic}',
        '            exp_annotations:',
        "              summary: 'Rollback triggered for team devops (automatic)'",
        "              description: 'Traffic was moved back to the last known good environment. Check the switch journal with `sidecarctl audit`.'",
        '      - eval_time: 4m',
        '        alertname: JsmSelfManagementFailure',
        '        exp_alerts:',
        '          - exp_labels: {severity: critical, component: jenkins-selfmanage, team: devops, type: traffic.switch}',
        '            exp_annotations:',
        "              summary: 'Self-management operation failed for team devops'",
        "              description: 'traffic.switch failed without completing its rollback in the last 15 minutes. Run `sidecarctl status` and `sidecarctl audit` on the sidecar host.'",
        '',
      ].join('\n'),
    );
    const r = spawnSync('promtool', ['test', 'rules', testFile], { encoding: 'utf8', timeout: 30_000 });
    expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('haproxy -c accepts the configuration', () => {
    const r = spawnSync('haproxy', ['-c', '-f', join(out, 'haproxy', 'haproxy.cfg')], { encoding: 'utf8', timeout: 30_000 });
    expect(`${r.stdout}${r.stderr}`).toMatch(/Configuration file is valid/);
    expect(r.status).toBe(0);
  });

  it('systemd-analyze verify accepts the unit without a single warning', () => {
    const r = spawnSync('systemd-analyze', ['verify', join(out, 'systemd', 'jenkins-sidecar.service')], { encoding: 'utf8', timeout: 30_000 });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });
});

function groovyFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? groovyFilesUnder(join(dir, e.name)) : e.name.endsWith('.groovy') ? [join(dir, e.name)] : []));
}

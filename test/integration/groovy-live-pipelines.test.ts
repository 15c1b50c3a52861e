import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ERROR_CODES } from '../../catalog/error-codes';
import { parseTeamsDocument } from '../../catalog/teams-file';
import { freeTeamPorts, startBackend, type Backend } from '../support/backends';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { SIDECARCTL_BIN, startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { byName, generate, REPO_ROOT, runScenarios, type Scenario, type ScenarioResult } from '../groovy/harness-runner';

/**
 * The seed's Pipeline A and B, verbatim, on real Groovy 2.4 against a live
 * jenkins-sidecar driving a real HAProxy (Runtime API), real PostgreSQL, real
 * sidecarctl and real ansible-playbook. The team's image does not exist, so the
 * deployment fails for real: Pipeline A must then release its lock and roll
 * traffic back to the side that served before (post always, post failure), and
 * Pipeline B must stop at its execution stage with the sidecar's code.
 * (A full successful switch needs the Jenkins stand-in image and takes the
 * seed's 5 x 60 s validation; the fake-sidecarctl runs cover that flow.)
 */
const suffix = randomBytes(3).toString('hex');
const team = `pipe-${suffix}`;
const root = mkdtempSync(join(tmpdir(), 'jsm-groovy-live-pipelines-'));
let db: TestDatabase;
let sc: SidecarProcess;
let hp: HaproxyProcess;
const backends: Backend[] = [];
let results: Map<string, ScenarioResult>;

beforeAll(async () => {
  const { webPort, agentPort } = await freeTeamPorts();
  const teamsYaml = [
    'jenkins_teams:',
    `  - team_name: ${team}`,
    '    active_environment: blue',
    '    self_management_enabled: true',
    `    image: 127.0.0.1:9/jsm-missing-${suffix}:1`,
    `    web_port: ${webPort}`,
    `    agent_port: ${agentPort}`,
    '',
  ].join('\n');
  const parsed = parseTeamsDocument(teamsYaml, 'teams.yml');
  if (parsed.errors.length) throw new Error(parsed.errors.join('\n'));
  backends.push(await startBackend(webPort, `${team}-blue`), await startBackend(webPort + 100, `${team}-green`));
  hp = await startHaproxy(parsed.teams);
  db = await createTestDatabase('groovypipes');
  sc = await startSidecarProcess({ databaseUrl: db.url, tokens: [{ id: 'ci', teams: [team] }], teamsYaml, env: { SIDECAR_HAPROXY_SOCKET: hp.socketPath } });
  generate(teamsYaml, join(root, 'out'));
  const sidecarctl = join(root, 'sidecarctl');
  writeFileSync(sidecarctl, `#!/bin/sh\nexec "${process.execPath}" "${SIDECARCTL_BIN}" "$@"\n`);
  chmodSync(sidecarctl, 0o755);
  const env = (jobName: string, build: number) => ({
    JOB_NAME: `${team}/Infrastructure/${jobName}`,
    BUILD_NUMBER: String(build),
    JENKINS_URL: `http://127.0.0.1:${webPort}/`,
    SIDECARCTL: sidecarctl,
    SIDECAR_URL: sc.rpcUrl,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
  });
  const credentials = { 'sidecar-token': sc.secrets['ci']! };
  const scenarios: Scenario[] = [
    { name: 'A', file: join(REPO_ROOT, 'test', 'fixtures', 'seed-pipeline-a.Jenkinsfile'), params: { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' }, env: env('Self-Managed-Blue-Green-Switch', 1), credentials },
    { name: 'generated switch', file: join(root, 'out', 'pipelines', 'Jenkinsfile.self-managed-switch'), params: { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' }, env: env('Self-Managed-Blue-Green-Switch', 3), credentials },
    { name: 'lock is free again', script: `def g = acquireInfrastructureLock(); releaseInfrastructureLock(); return g.holder`, env: env('Self-Managed-Blue-Green-Switch', 2), credentials },
    { name: 'B', file: join(REPO_ROOT, 'test', 'fixtures', 'seed-pipeline-b.Jenkinsfile'), params: { OPERATION_TYPE: 'plugin_update', OPERATION_DETAILS: 'git 5.2' }, env: env('Infrastructure-Coordination', 1), credentials },
  ];
  results = byName(await runScenarios(join(root, 'out', 'library'), scenarios, join(root, 'work')));
}, 280_000);

afterAll(async () => {
  await sc?.stop();
  await hp?.stop();
  for (const b of backends) await b.close();
  await db?.drop();
  rmSync(root, { recursive: true, force: true });
});

const get = (name: string): ScenarioResult => {
  const r = results.get(name);
  if (!r) throw new Error(`no result for ${name}`);
  return r;
};
const stage = (r: ScenarioResult, name: string) => r.stages.find((x) => x.name === name);
const domainCode = (text: string | undefined, step: string): string | undefined => {
  const m = new RegExp(`^${step}: ([A-Z_]+)(?: \\(([a-z_]+)\\))?: `).exec(text ?? '');
  return m && (ERROR_CODES as readonly string[]).includes(m[1]!) ? 'domain' : text;
};

describe('seed Pipeline A against a live sidecar and a real HAProxy', () => {
  it('passes coordination and the lock, fails at deployment, then post always and post failure run for real', () => {
    const a = get('A');
    expect(a.result).toBe('FAILURE');
    expect(stage(a, 'Pre-Switch Coordination')?.status).toBe('success');
    expect(stage(a, 'Infrastructure State Lock')?.status).toBe('success');
    expect(stage(a, 'Deploy Target Environment')).toMatchObject({ status: 'failed', error: expect.stringMatching(/^executeAnsiblePlaybook: ansible-playbook .* failed with exit code \d+/) });
    expect(stage(a, 'Progressive Traffic Switch')?.status).toBe('skipped (earlier failure)');
    expect(stage(a, 'post always')).toEqual({ name: 'post always', status: 'success' });
    expect(stage(a, 'post failure')).toEqual({ name: 'post failure', status: 'success' });
    const console = a.console.join('\n');
    expect(console).toMatch(/releaseInfrastructureLock: released pipe-[0-9a-f]+:blue_green_switch/);
    expect(console).toMatch(/getPreviousEnvironment: blue/);
    expect(console).not.toContain(sc.secrets['ci']);
  });

  it('left the lock free and all traffic on blue', async () => {
    expect(get('lock is free again').value).toBe(`${team}/Infrastructure/Self-Managed-Blue-Green-Switch#2`);
    const stats = (await hp.runtime.showStat()).filter((s) => s.backend === `jenkins_backend_${team}`);
    expect(Object.fromEntries(stats.map((s) => [s.server, s.weight]))).toEqual({ [`${team}-blue`]: expect.any(Number), [`${team}-green`]: 0 });
    expect(stats.find((s) => s.server === `${team}-blue`)!.weight).toBeGreaterThan(0);
  });
});

describe('the generated self-managed switch against a live sidecar', () => {
  it('fails at deployment before migration and switch; post failure rolls back and lifts the quiet-down through environment.quietDown', async () => {
    const g = get('generated switch');
    expect(g.result).toBe('FAILURE');
    const names = g.stages.map((x) => x.name);
    expect(names.indexOf('State Migration & Validation')).toBeLessThan(names.indexOf('Progressive Traffic Switch'));
    expect(stage(g, 'Deploy Target Environment')?.status).toBe('failed');
    expect(stage(g, 'State Migration & Validation')?.status).toBe('skipped (earlier failure)');
    expect(stage(g, 'Progressive Traffic Switch')?.status).toBe('skipped (earlier failure)');
    expect(stage(g, 'post failure')).toEqual({ name: 'post failure', status: 'success' });
    const console = g.console.join('\n');
    expect(console).toMatch(/executeEmergencyRollback: rollback.emergency for team/);
    // blue here is a plain HTTP backend, no controller container: there is nothing to lift, and the sidecar says so.
    expect(console).toContain(`quietDownEnvironment: ${team}/blue is not running (nothing to lift)`);
    const ops = JSON.parse((await fetch(`${sc.httpUrl}/api/v1/operations?team=${team}`, { headers: { Authorization: `Bearer ${sc.secrets['ci']}` } }).then((r) => r.text()))) as unknown;
    const list = (Array.isArray(ops) ? ops : (ops as { operations: unknown[] }).operations) as Array<{ type: string; status: string; params?: Record<string, unknown> }>;
    expect(list.filter((o) => o.type === 'environment.quietDown')).toEqual([expect.objectContaining({ status: 'succeeded', params: expect.objectContaining({ environment: 'blue', cancel: true }) })]);
  });
});

describe('seed Pipeline B against a live sidecar', () => {
  it('sets up and builds consensus for real, and stops at execution with the sidecar code', () => {
    const b = get('B');
    expect(b.result).toBe('FAILURE');
    expect(stage(b, 'Coordination Setup')?.status).toBe('success');
    expect(stage(b, 'Consensus Building')?.status).toBe('success');
    expect(domainCode(stage(b, 'Coordinated Execution')?.error, 'coordinatedExecution')).toBe('domain');
  });
});

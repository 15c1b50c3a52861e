import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ERROR_CODES } from '../../catalog/error-codes';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { SIDECARCTL_BIN, startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { byName, generate, runScenarios, type Scenario, type ScenarioResult } from '../groovy/harness-runner';

/**
 * The generated steps on real Groovy 2.4 against a REAL jenkins-sidecar (real
 * PostgreSQL, real sidecarctl, bearer token through withCredentials). Locks,
 * leadership, consensus, coordination records, environment status and breakers
 * succeed; the steps whose operations need HAProxy and Docker (not given to this
 * sidecar) must fail with a domain error code from the sidecar, which proves the
 * params passed its validation (an invalid param would be INVALID_PARAMS).
 */
const team = `live-${randomBytes(3).toString('hex')}`;
const root = mkdtempSync(join(tmpdir(), 'jsm-groovy-live-'));
const job = `${team}/Infrastructure/Self-Managed-Blue-Green-Switch`;
let db: TestDatabase;
let sc: SidecarProcess;
let results: Map<string, ScenarioResult>;

const teamsYaml = ['jenkins_teams:', `  - team_name: ${team}`, '    active_environment: blue', '    self_management_enabled: true', '    web_port: 18280', '    agent_port: 51280', ''].join('\n');

beforeAll(async () => {
  db = await createTestDatabase('groovylive');
  sc = await startSidecarProcess({ databaseUrl: db.url, tokens: [{ id: 'ci', teams: [team] }, { id: 'other', teams: ['someone-else'] }], teamsYaml });
  generate(teamsYaml, join(root, 'out'));
  const sidecarctl = join(root, 'sidecarctl');
  writeFileSync(sidecarctl, `#!/bin/sh\nexec "${process.execPath}" "${SIDECARCTL_BIN}" "$@"\n`);
  chmodSync(sidecarctl, 0o755);
  const env = (build: number, extra: Record<string, string> = {}) => ({
    JOB_NAME: job,
    BUILD_NUMBER: String(build),
    JENKINS_URL: 'http://127.0.0.1:18280/',
    SIDECARCTL: sidecarctl,
    SIDECAR_URL: sc.rpcUrl,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ...extra,
  });
  const creds = { 'sidecar-token': sc.secrets['ci']! };
  const s = (name: string, build: number, script: string, extra: Partial<Scenario> = {}): Scenario => ({ name, script, env: env(build), credentials: creds, ...extra });
  const scenarios: Scenario[] = [
    s('leadership, consensus, status, breakers, record', 41, `
      def out = [:]
      out.leader = establishCoordinationLeadership()
      out.consensus = requestInfrastructureConsensus([operation: 'blue_green_switch', target: 'green', coordinator: env.JENKINS_URL, timeout: 20])
      out.current = getCurrentEnvironment()
      out.previous = getPreviousEnvironment()
      out.breakers = getBreakerStatus()
      out.update = updateCoordinationState([operation: 'blue_green_switch', status: currentBuild.result, environment: 'green'])
      out.setup = setupCoordination(operation: 'plugin_update', details: 'git 5.2')
      return out
    `),
    s('build 41 takes the switch lock', 41, `return acquireInfrastructureLock([operation: 'blue_green_switch', timeout: '10m', coordinator: currentBuild.projectName])`),
    s('build 42 finds it held', 42, `acquireInfrastructureLock([operation: 'blue_green_switch'])`),
    s('build 42 releases nothing', 42, `return releaseInfrastructureLock(operation: 'blue_green_switch')`),
    s('build 41 releases it', 41, `return releaseInfrastructureLock(operation: 'blue_green_switch')`),
    s('build 46 takes it now, block form', 46, `return withInfrastructureLock(name: 'blue_green_switch', timeout: '5m') { return env.JSM_LOCK_TOKEN }`),
    s('the block released it', 43, `def g = acquireInfrastructureLock(); releaseInfrastructureLock(); return g.holder`),
    s('switch without HAProxy fails with a domain code', 44, `acquireInfrastructureLock(); try { progressiveTrafficSwitch(target: 'green', validation_time: 1, rollback_triggers: ['error_rate > 2%']) } finally { releaseInfrastructureLock() }`),
    s('rollback without HAProxy fails with a domain code', 44, `executeEmergencyRollback(reason: 'drill from the harness', target: 'blue')`),
    s('validate without a container fails with a domain code', 44, `validateEnvironmentHealth(environment: 'green', checks: ['container_health'])`),
    s('migrate without containers fails with a domain code', 44, `migrateRuntimeState(source: 'blue', target: 'green', timeout: 10)`),
    s('backup without a container fails with a domain code', 44, `createBackup(environment: 'blue')`),
    s('backups list', 44, `return listBackups()`),
    s('another team is forbidden', 45, `getCurrentEnvironment(team: 'someone-else')`, { credentials: creds }),
    s('a wrong token cannot connect', 45, `getCurrentEnvironment()`, { credentials: { 'sidecar-token': 'not-a-token' } }),
  ];
  results = byName(await runScenarios(join(root, 'out', 'library'), scenarios, join(root, 'work')));
}, 240_000);

afterAll(async () => {
  await sc?.stop();
  await db?.drop();
  rmSync(root, { recursive: true, force: true });
});

const get = (name: string): ScenarioResult => {
  const r = results.get(name);
  if (!r) throw new Error(`no result for ${name}`);
  return r;
};

describe('core steps against a live sidecar', () => {
  it('leadership, consensus, environment status, breakers and the coordination record work end to end', () => {
    const r = get('leadership, consensus, status, breakers, record');
    expect(r.error).toBeNull();
    const v = r.value as Record<string, Record<string, unknown> & { breakers?: unknown[] }>;
    expect(v.leader).toMatchObject({ isLeader: true, scope: `team:${team}` });
    expect(typeof v.consensus.approved).toBe('boolean');
    expect(Array.isArray(v.consensus.votes)).toBe(true);
    expect(v.current).toBe('blue');
    expect(v.previous).toBe('blue');
    expect(Array.isArray(v.breakers.breakers)).toBe(true);
    expect(v.update).toMatchObject({ recorded: true });
    expect(v.setup).toMatchObject({ operation: 'plugin_update', isLeader: true });
    expect(r.console.join('\n')).not.toContain(sc.secrets['ci']);
  });

  it('the lock is owned by the build: another build gets LOCK_HELD and cannot release it; the owner can', () => {
    const grant = get('build 41 takes the switch lock').value as Record<string, unknown>;
    expect(grant).toMatchObject({ lockName: `${team}:blue_green_switch`, holder: `${job}#41` });
    expect(grant.token).toEqual(expect.any(Number));
    expect(get('build 42 finds it held').error).toMatch(/^acquireInfrastructureLock: LOCK_HELD: /);
    expect(get('build 42 releases nothing').value).toEqual({ released: false, operations: [] });
    expect(get('build 41 releases it').value).toEqual({ released: true, operations: ['blue_green_switch'] });
    // (A new build: build 42 asking again would re-attach to its own failed acquire, by its idempotency key.)
    expect(get('build 46 takes it now, block form').error).toBeNull();
    expect(Number(get('build 46 takes it now, block form').value)).toBeGreaterThan(Number(grant.token));
    expect(get('the block released it').value).toBe(`${job}#43`);
  });

  it.each([
    ['switch without HAProxy fails with a domain code', 'progressiveTrafficSwitch'],
    ['rollback without HAProxy fails with a domain code', 'executeEmergencyRollback'],
    ['validate without a container fails with a domain code', 'validateEnvironmentHealth'],
    ['migrate without containers fails with a domain code', 'migrateRuntimeState'],
    ['backup without a container fails with a domain code', 'createBackup'],
  ])('%s', (name, step) => {
    const r = get(name);
    expect(r.result).toBe('FAILURE');
    const m = new RegExp(`^${step}: ([A-Z_]+)(?: \\(([a-z_]+)\\))?: `).exec(r.error ?? '');
    expect({ error: r.error, code: m?.[1] && (ERROR_CODES as readonly string[]).includes(m[1]) ? 'domain' : m?.[1] }).toEqual({ error: r.error, code: 'domain' });
  });

  it('lists backups', () => {
    expect(get('backups list').result).toBe('SUCCESS');
    expect(get('backups list').value).toMatchObject({ backups: expect.any(Array) });
  });

  it('a team token cannot act on another team, and a wrong token cannot connect (exit 4)', () => {
    expect(get('another team is forbidden').error).toMatch(/^getCurrentEnvironment: FORBIDDEN: /);
    expect(get('a wrong token cannot connect').error).toMatch(/^getCurrentEnvironment: cannot reach or authenticate to the sidecar/);
  });
});

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeWorld, schemaProblems } from '../groovy/fake-scenario';
import { byName, generate, REPO_ROOT, runScenarios, type Scenario, type ScenarioResult } from '../groovy/harness-runner';

/**
 * The seed's Pipeline A and Pipeline B, copied verbatim into test/fixtures/, and
 * the generated Jenkinsfiles, run unmodified on real Groovy 2.4 against the
 * generated library (declarative stages, post always/failure). The sidecar is the
 * fake sidecarctl here; ansible-playbook is real. Also the generated Job DSL seed
 * against the Job DSL API emulation, and the job tree it creates.
 */
const root = mkdtempSync(join(tmpdir(), 'jsm-groovy-pipelines-'));
const world = new FakeWorld(root);
const out = join(root, 'out');
const lib = join(out, 'library');
const seedA = join(REPO_ROOT, 'test', 'fixtures', 'seed-pipeline-a.Jenkinsfile');
const seedB = join(REPO_ROOT, 'test', 'fixtures', 'seed-pipeline-b.Jenkinsfile');
const generated = (name: string) => join(out, 'pipelines', `Jenkinsfile.${name}`);
let results: Map<string, ScenarioResult>;

const sidecarError = (code: string, message: string) => ({ error: { code, message } });
const rolledBackStatus = { active: 'blue', previous: 'green', weights: { blue: 100, green: 0 }, operation: null, lastKnownGood: 'blue', buildSwitch: { from: 'blue', to: 'green', status: 'rolled_back' } };
const noSwitchStatus = { active: 'blue', previous: 'green', weights: { blue: 100, green: 0 }, operation: null, lastKnownGood: 'blue', buildSwitch: null };

/** The parameter definitions the Job DSL seed gives each generated job (the one source of them). */
let jobParameters: Map<string, Record<string, unknown>[]>;
const jobOf: Record<string, string> = {
  'self-managed-switch': 'Self-Managed-Blue-Green-Switch',
  'infrastructure-coordination': 'Infrastructure-Coordination',
  'emergency-rollback': 'Emergency-Rollback',
  backup: 'backup',
};

beforeAll(async () => {
  generate(world.teamsYaml() + ['  - team_name: quiet-team', '    self_management_enabled: false', '    web_port: 18090', '    agent_port: 51090', ''].join('\n'), out);
  const [seed] = await runScenarios(lib, [{ name: 'seed', kind: 'jobdsl', file: join(out, 'jobdsl', 'self-management.groovy') }], join(root, 'seed'));
  jobParameters = new Map((seed.jobs as { fullName: string; parameters?: Record<string, unknown>[] }[]).map((j) => [j.fullName.split('/').pop()!, j.parameters ?? []]));
  const p = (name: string, file: string, params: Record<string, unknown>, answers: Record<string, unknown> = {}, env: Record<string, string> = {}, extra: Partial<Scenario> = {}) => {
    const generatedName = Object.keys(jobOf).find((k) => file === generated(k));
    const build = { ...(generatedName ? { jobParameters: jobParameters.get(jobOf[generatedName]) } : {}), ...(extra.build ?? {}) };
    return world.scenario(name, { file, params, ...extra, build }, answers, env);
  };
  const down = sidecarError('DEPENDENCY_DOWN', 'PostgreSQL is not answering');
  results = byName(
    await runScenarios(
      lib,
      [
        // An exception in post { always } would make the combined result FAILURE and run post { failure }.
        p('generated: recording the outcome fails after a good switch', generated('self-managed-switch'), { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' }, { 'environment.status': noSwitchStatus, 'coordination.update': down }),
        p('generated: aborted between migration and switch', generated('self-managed-switch'), { TARGET_ENVIRONMENT: 'green' }, { 'environment.status': noSwitchStatus }, {}, { build: { abortWhen: { JSM_METHOD: 'environment.validate' } } }),
        p('generated: aborted during the switch', generated('self-managed-switch'), { TARGET_ENVIRONMENT: 'green' }, { 'environment.status': noSwitchStatus }, {}, { build: { abortWhen: { JSM_METHOD: 'traffic.switch' } } }),
        p('generated: emergency rollback aborted while lifting quiet-down', generated('emergency-rollback'), { ROLLBACK_REASON: 'r' }, { 'environment.status': noSwitchStatus }, {}, { build: { abortWhen: { JSM_METHOD: 'environment.quietDown' } } }),
        p('generated: backup on the idle controller', generated('backup'), {}, { 'environment.status': noSwitchStatus }, {}, { controllerEnv: { JENKINS_ENVIRONMENT: 'green' } }),
        p('generated: backup on the serving controller', generated('backup'), {}, { 'environment.status': noSwitchStatus }, {}, { controllerEnv: { JENKINS_ENVIRONMENT: 'blue' } }),
        p('generated: second switch build keeps the Job DSL parameters', generated('self-managed-switch'), { TARGET_ENVIRONMENT: 'green' }, { 'environment.status': noSwitchStatus }),
        p('generated: second rollback build keeps the Job DSL parameters', generated('emergency-rollback'), { ROLLBACK_REASON: 'r' }, { 'environment.status': noSwitchStatus }),
        p('generated: second coordination build keeps the Job DSL parameters', generated('infrastructure-coordination'), { OPERATION_TYPE: 'plugin_update' }, {}),
        world.scenario('updateCoordinationState accepts NOT_BUILT', { script: "updateCoordinationState([operation: 'backup', status: 'NOT_BUILT'])" }),
        p('A: switch to green', seedA, { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' }),
        p('A: consensus denied', seedA, { TARGET_ENVIRONMENT: 'green' }, {
          'consensus.request': { approved: false, reason: 'denied by 2 of 3', votes: [], quorum: 2, participants: 3, proposalId: 'p-9' },
          'environment.status': noSwitchStatus,
        }),
        p('A: switch breaches and rolls back', seedA, { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' }, {
          'traffic.switch': sidecarError('SLI_BREACH', 'error_rate 7.1% > 2% at 25%: rolled back to blue'),
          'environment.status': rolledBackStatus,
        }),
        p('A: validation fails after the switch', seedA, { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' }, {
          'environment.validate': { passed: false, checks: [{ name: 'job_restoration', passed: false, figure: '10/12', reason: '2 jobs missing' }] },
        }),
        p('A: force mode does not roll back', seedA, { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'force' }, {
          'consensus.request': { approved: false, reason: 'denied', votes: [], quorum: 2, participants: 3, proposalId: 'p-10' },
        }),
        p('B: plugin update', seedB, { OPERATION_TYPE: 'plugin_update', OPERATION_DETAILS: 'git 5.2' }, {}, { JOB_NAME: `${world.team}/Infrastructure/Infrastructure-Coordination` }),
        p('B: consensus denied', seedB, { OPERATION_TYPE: 'version_upgrade', OPERATION_DETAILS: 'Jenkins 2.5.0 upgrade' }, {
          'consensus.request': { approved: false, reason: 'denied by 2 of 3', votes: [], quorum: 2, participants: 3, proposalId: 'p-11' },
        }),
        // Before the switch no build switch exists: environment.status answers the side serving now.
        p('generated: self-managed switch', generated('self-managed-switch'), { TARGET_ENVIRONMENT: 'green' }, { 'environment.status': noSwitchStatus }),
        p('generated: switch breaches and rolls back', generated('self-managed-switch'), { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' }, {
          'traffic.switch': sidecarError('SLI_BREACH', 'error_rate 7.1% > 2% at 25%: rolled back to blue'),
          'environment.status': rolledBackStatus,
        }),
        p('generated: switch breaches in force mode', generated('self-managed-switch'), { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'force' }, {
          'traffic.switch': sidecarError('SLI_BREACH', 'error_rate 7.1% > 2% at 5%: rolled back to blue'),
          'environment.status': rolledBackStatus,
        }),
        p('generated: migration times out', generated('self-managed-switch'), { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' }, {
          'state.migrate': sidecarError('TIMEOUT', 'devops/blue did not go idle within 600s: still running app#5; Quiet-down on devops/blue was cancelled.'),
          'environment.status': noSwitchStatus,
        }),
        p('generated: target fails validation', generated('self-managed-switch'), { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' }, {
          'environment.validate': { passed: false, checks: [{ name: 'job_restoration', passed: false, figure: '10/12', reason: '2 jobs missing' }] },
          'environment.status': noSwitchStatus,
        }),
        p('generated: emergency rollback fails too', generated('self-managed-switch'), { TARGET_ENVIRONMENT: 'green', COORDINATION_MODE: 'safe' }, {
          'traffic.switch': sidecarError('SLI_BREACH', 'error_rate 7.1% > 2% at 5%: rolled back to blue'),
          'rollback.emergency': sidecarError('DEPENDENCY_DOWN', 'HAProxy Runtime API unreachable'),
          'environment.status': rolledBackStatus,
        }),
        p('generated: coordination with a failing execution', generated('infrastructure-coordination'), { OPERATION_TYPE: 'configuration_change', OPERATION_DETAILS: 'casc reload' }, {
          'coordination.execute': sidecarError('CONFLICT', 'another operation is in flight for the team'),
        }),
        p('generated: emergency rollback to last known good', generated('emergency-rollback'), { ROLLBACK_REASON: 'Performance degradation' }, { 'environment.status': noSwitchStatus }),
        p('generated: emergency rollback, quiet-down cannot be lifted', generated('emergency-rollback'), { ROLLBACK_REASON: 'Performance degradation', TARGET_ENVIRONMENT: 'blue' }, {
          'environment.status': noSwitchStatus,
          'environment.quietDown': sidecarError('DEPENDENCY_DOWN', 'PostgreSQL is not answering'),
        }),
        p('generated: backup', generated('backup'), {}),
        { name: 'job dsl seed', kind: 'jobdsl', file: join(out, 'jobdsl', 'self-management.groovy') },
        { name: 'job dsl: deprecated triggers{} is refused', kind: 'jobdsl', script: "pipelineJob('x') { triggers { cron('H 2 * * *') } }" },
        { name: 'job dsl: concurrentBuild() is refused', kind: 'jobdsl', script: "pipelineJob('x') { concurrentBuild(false) }" },
        { name: 'job dsl: parent folder first', kind: 'jobdsl', script: "pipelineJob('a/b') { }" },
      ],
      join(root, 'work'),
    ),
  );
}, 280_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

const get = (name: string): ScenarioResult => {
  const r = results.get(name);
  if (!r) throw new Error(`no result for ${name}`);
  return r;
};
const methods = (name: string) => world.calls(name).map((c) => c.method);
const callOf = (name: string, method: string) => world.calls(name).find((c) => c.method === method)!;
const stage = (name: string, stageName: string) => get(name).stages.find((x) => x.name === stageName)?.status;

describe('the seed pipelines run in the generated installation', () => {
  it('Pipeline A and B, unmodified, get the library implicitly and run on the coordination node jenkins.yaml declares', () => {
    for (const name of ['A: switch to green', 'B: plugin update']) {
      expect(readFileSync(name.startsWith('A') ? seedA : seedB, 'utf8')).not.toMatch(/@Library|\blibrary\s*\(/);
      expect(get(name).libraries).toEqual(['jenkins-selfmanage']);
      expect(get(name).console).toContain(`Running on ${world.team}-coordination in ${get(name).workspace}`);
      expect(get(name).result).toBe('SUCCESS');
    }
  });
});

describe("seed Pipeline A (verbatim)", () => {
  it('switches: leadership, consensus, lock, deploy, switch, migrate from the old side, validate, release, record', () => {
    const r = get('A: switch to green');
    expect(r.error).toBeNull();
    expect(r.result).toBe('SUCCESS');
    expect(methods('A: switch to green')).toEqual([
      'leadership.establish',
      'consensus.request',
      'lock.acquire',
      'environment.deploy',
      'lock.renew',
      'traffic.switch',
      'environment.status',
      'state.migrate',
      'environment.validate',
      'lock.release',
      'coordination.update',
    ]);
    expect(callOf('A: switch to green', 'consensus.request').params).toMatchObject({ operation: 'blue_green_switch', target: 'green', coordinator: 'http://127.0.0.1:18080/' });
    expect(callOf('A: switch to green', 'lock.acquire').params).toMatchObject({ team: world.team, operation: 'blue_green_switch', ttlSec: 600, owner: world.build });
    // syncTarget: the step's default, so the migration after the switch does not reload the side then serving everyone.
    expect(callOf('A: switch to green', 'traffic.switch').params).toMatchObject({ lockToken: 42, validationSec: 60, triggers: ['error_rate > 2%', 'response_time > 2000ms', 'availability < 99.5%'], syncTarget: true });
    // The switch completed (active green); the source is the side it left.
    expect(callOf('A: switch to green', 'state.migrate').params).toMatchObject({ source: 'blue', target: 'green', callerBuild: world.build });
    expect(callOf('A: switch to green', 'coordination.update').params).toMatchObject({ status: 'SUCCESS', environment: 'green' });
    const problems = world.calls('A: switch to green').flatMap(schemaProblems).filter((x) => !/no schema in catalog\/methods yet/.test(x));
    expect(problems).toEqual([]);
  });

  it('a consensus denial fails the build; post always releases nothing (no lock was taken) and records FAILURE', () => {
    const r = get('A: consensus denied');
    expect(r.result).toBe('FAILURE');
    expect(r.error).toBe('❌ Consensus denied: denied by 2 of 3');
    expect(stage('A: consensus denied', 'Pre-Switch Coordination')).toBe('failed');
    expect(stage('A: consensus denied', 'Deploy Target Environment')).toBe('skipped (earlier failure)');
    expect(r.console.join('\n')).toContain('Consensus denied: denied by 2 of 3');
    expect(methods('A: consensus denied')).toEqual(['leadership.establish', 'consensus.request', 'coordination.update', 'environment.status', 'rollback.emergency']);
    expect(callOf('A: consensus denied', 'coordination.update').params.status).toBe('FAILURE');
    // Nothing was switched: "previous" is the side serving now, not the previous side of an older switch.
    expect(callOf('A: consensus denied', 'rollback.emergency').params).toMatchObject({ target: 'blue', reason: 'blue_green_switch_failure' });
  });

  it('a failing switch reaches post { failure }: lock released first, then rollback to the side that served before', () => {
    const r = get('A: switch breaches and rolls back');
    expect(r.result).toBe('FAILURE');
    expect(stage('A: switch breaches and rolls back', 'Progressive Traffic Switch')).toBe('failed');
    expect(get('A: switch breaches and rolls back').stages.find((x) => x.name === 'Progressive Traffic Switch')?.error).toMatch(/^progressiveTrafficSwitch: SLI_BREACH: /);
    expect(methods('A: switch breaches and rolls back').slice(-6)).toEqual(['lock.renew', 'traffic.switch', 'lock.release', 'coordination.update', 'environment.status', 'rollback.emergency']);
    expect(callOf('A: switch breaches and rolls back', 'rollback.emergency').params).toMatchObject({ target: 'blue' });
    expect(stage('A: switch breaches and rolls back', 'post failure')).toBe('success');
  });

  it('a failed validation after a completed switch rolls back to the old side, not to the new one', () => {
    expect(get('A: validation fails after the switch').result).toBe('FAILURE');
    expect(callOf('A: validation fails after the switch', 'rollback.emergency').params).toMatchObject({ target: 'blue' });
  });

  it('COORDINATION_MODE force skips the automatic rollback', () => {
    expect(get('A: force mode does not roll back').result).toBe('FAILURE');
    expect(methods('A: force mode does not roll back')).not.toContain('rollback.emergency');
  });
});

describe('seed Pipeline B (verbatim)', () => {
  it('sets up, builds consensus and executes', () => {
    const r = get('B: plugin update');
    expect(r.error).toBeNull();
    expect(r.result).toBe('SUCCESS');
    expect(methods('B: plugin update')).toEqual(['leadership.establish', 'consensus.request', 'coordination.execute']);
    expect(callOf('B: plugin update', 'consensus.request').params).toMatchObject({ operation: 'plugin_update', timeoutSec: 300, details: { text: 'git 5.2' } });
    expect(callOf('B: plugin update', 'coordination.execute').params).toMatchObject({ team: world.team, operation: 'plugin_update' });
  });

  it('stops at Consensus Building when the instances do not approve', () => {
    expect(get('B: consensus denied').result).toBe('FAILURE');
    expect(methods('B: consensus denied')).toEqual(['leadership.establish', 'consensus.request']);
    expect(stage('B: consensus denied', 'Coordinated Execution')).toBe('skipped (earlier failure)');
  });
});

describe('generated Jenkinsfiles', () => {
  it('self-managed switch migrates into the idle side and validates it BEFORE moving traffic (deviation from the seed order)', () => {
    const name = 'generated: self-managed switch';
    expect(get(name).error).toBeNull();
    expect(get(name).result).toBe('SUCCESS');
    expect(get(name).stages.map((x) => x.name)).toEqual(
      expect.arrayContaining(['Deploy Target Environment', 'State Migration & Validation', 'Progressive Traffic Switch']),
    );
    const order = get(name).stages.map((x) => x.name);
    expect(order.indexOf('Deploy Target Environment')).toBeLessThan(order.indexOf('State Migration & Validation'));
    expect(order.indexOf('State Migration & Validation')).toBeLessThan(order.indexOf('Progressive Traffic Switch'));
    expect(methods(name)).toEqual([
      'leadership.establish',
      'consensus.request',
      'lock.acquire',
      'environment.deploy',
      'environment.status',
      'state.migrate',
      'environment.status',
      'environment.validate',
      'lock.renew',
      'traffic.switch',
      'coordination.update',
      'lock.release',
    ]);
    // Source = the side serving now (blue), target = the idle side; the validation compares against the source.
    expect(callOf(name, 'state.migrate').params).toMatchObject({ source: 'blue', target: 'green', callerBuild: world.build });
    expect(callOf(name, 'environment.validate').params).toMatchObject({ environment: 'green', source: 'blue' });
    // Migrated just before: the switch does not bring the target up to date again (nor lift the source's quiet-down).
    expect(callOf(name, 'traffic.switch').params).toMatchObject({ syncTarget: false });
    // The lease covers deployment and migration before the switch renews it.
    expect(callOf(name, 'lock.acquire').params).toMatchObject({ operation: 'blue_green_switch', ttlSec: 1800 });
    expect(methods(name)).not.toContain('environment.quietDown');
    const problems = world.calls(name).flatMap(schemaProblems);
    expect(problems).toEqual([]);
  });

  it('a switch that rolls back: lock released, emergency rollback to the source, then the quiet-down the migration left on it is lifted', () => {
    const name = 'generated: switch breaches and rolls back';
    expect(get(name).result).toBe('FAILURE');
    expect(stage(name, 'State Migration & Validation')).toBe('success');
    expect(stage(name, 'Progressive Traffic Switch')).toBe('failed');
    expect(stage(name, 'post failure')).toBe('success');
    // The lock is released in post { cleanup }, after the rollback it protects.
    expect(methods(name).slice(-8)).toEqual(['lock.renew', 'traffic.switch', 'coordination.update', 'environment.status', 'rollback.emergency', 'environment.status', 'environment.quietDown', 'lock.release']);
    expect(callOf(name, 'rollback.emergency').params).toMatchObject({ target: 'blue' });
    expect(callOf(name, 'environment.quietDown').params).toMatchObject({ team: world.team, environment: 'blue', cancel: true });
    expect(get(name).console.join('\n')).toContain(`quietDownEnvironment: ${world.team}/blue accepts new builds`);
    expect(world.calls(name).flatMap(schemaProblems)).toEqual([]);
  });

  it('force mode skips the rollback but still lifts the quiet-down on the source', () => {
    const name = 'generated: switch breaches in force mode';
    expect(get(name).result).toBe('FAILURE');
    expect(methods(name)).not.toContain('rollback.emergency');
    expect(methods(name).slice(-3)).toEqual(['environment.status', 'environment.quietDown', 'lock.release']);
    expect(callOf(name, 'environment.quietDown').params).toMatchObject({ environment: 'blue', cancel: true });
  });

  it('a migration or a validation that fails stops before any traffic moves; post { failure } lifts the quiet-down', () => {
    for (const name of ['generated: migration times out', 'generated: target fails validation']) {
      expect(get(name).result).toBe('FAILURE');
      expect(stage(name, 'State Migration & Validation')).toBe('failed');
      expect(stage(name, 'Progressive Traffic Switch')).toBe('skipped (earlier failure)');
      expect(methods(name)).not.toContain('traffic.switch');
      expect(methods(name).slice(-3)).toEqual(['environment.status', 'environment.quietDown', 'lock.release']);
      expect(callOf(name, 'environment.quietDown').params).toMatchObject({ environment: 'blue', cancel: true });
    }
    expect(get('generated: migration times out').stages.find((x) => x.name === 'State Migration & Validation')?.error).toMatch(/^migrateRuntimeState: TIMEOUT: /);
  });

  it('a failing emergency rollback does not keep the quiet-down on the source', () => {
    const name = 'generated: emergency rollback fails too';
    expect(get(name).result).toBe('FAILURE');
    expect(methods(name).slice(-4)).toEqual(['rollback.emergency', 'environment.status', 'environment.quietDown', 'lock.release']);
    expect(stage(name, 'post failure')).toBe('failed');
  });

  it('coordination releases its lock and records FAILURE when execution fails', () => {
    const name = 'generated: coordination with a failing execution';
    expect(get(name).result).toBe('FAILURE');
    expect(methods(name)).toEqual(['leadership.establish', 'consensus.request', 'lock.acquire', 'coordination.execute', 'lock.release', 'coordination.update']);
    expect(callOf(name, 'coordination.update').params).toMatchObject({ status: 'FAILURE', operation: 'configuration_change' });
  });

  it('emergency rollback without a target uses the last known good side', () => {
    const name = 'generated: emergency rollback to last known good';
    expect(get(name).result).toBe('SUCCESS');
    expect(callOf(name, 'rollback.emergency').params).toEqual(expect.not.objectContaining({ target: expect.anything() }));
    expect(callOf(name, 'rollback.emergency').params).toMatchObject({ reason: 'Performance degradation' });
    // The side now serving may be a migration's source left in quiet-down: the pipeline lifts it.
    expect(methods(name)).toEqual(['rollback.emergency', 'environment.quietDown', 'environment.status', 'environment.validate', 'coordination.update']);
    expect(callOf(name, 'environment.quietDown').params).toMatchObject({ environment: 'blue', cancel: true });
  });

  it('emergency rollback: traffic moved is what counts; a quiet-down that cannot be lifted is a warning naming the command', () => {
    const name = 'generated: emergency rollback, quiet-down cannot be lifted';
    expect(get(name).result).toBe('SUCCESS');
    expect(methods(name)).toEqual(['rollback.emergency', 'environment.quietDown', 'environment.status', 'environment.validate', 'coordination.update']);
    expect(get(name).console.join('\n')).toMatch(/WARNING: could not lift quiet-down on blue: quietDownEnvironment: DEPENDENCY_DOWN: .*sidecarctl call environment.quietDown/);
  });

  it('backup creates, finds its backup in the list, records', () => {
    expect(get('generated: backup').result).toBe('SUCCESS');
    expect(methods('generated: backup')).toEqual(['environment.status', 'backup.create', 'backup.list', 'coordination.update']);
  });
});

describe('generated pipelines on a real Jenkins (misbehaviour the harness now shows)', () => {
  it('a failure to record the outcome after a good switch is a warning: no FAILURE, no rollback, lock released last', () => {
    const name = 'generated: recording the outcome fails after a good switch';
    expect(get(name).error).toBeNull();
    expect(get(name).result).toBe('SUCCESS');
    expect(methods(name)).not.toContain('rollback.emergency');
    expect(methods(name).slice(-3)).toEqual(['traffic.switch', 'coordination.update', 'lock.release']);
    expect(get(name).console.join('\n')).toContain('WARNING: the outcome was not recorded: updateCoordinationState: DEPENDENCY_DOWN');
  });

  it('an abort between the migration and the switch lifts the quiet-down on the source; no rollback', () => {
    const name = 'generated: aborted between migration and switch';
    expect(get(name).result).toBe('ABORTED');
    expect(methods(name)).not.toContain('traffic.switch');
    expect(methods(name)).not.toContain('rollback.emergency');
    expect(methods(name).slice(-4)).toEqual(['coordination.update', 'environment.status', 'environment.quietDown', 'lock.release']);
    expect(callOf(name, 'environment.quietDown').params).toMatchObject({ environment: 'blue', cancel: true });
    expect(callOf(name, 'coordination.update').params).toMatchObject({ status: 'ABORTED' });
  });

  it('an abort during the switch leaves the quiet-down to the sidecar, says how to lift it, and releases the lock', () => {
    const name = 'generated: aborted during the switch';
    expect(get(name).result).toBe('ABORTED');
    expect(methods(name)).not.toContain('environment.quietDown');
    expect(methods(name).slice(-2)).toEqual(['coordination.update', 'lock.release']);
    expect(get(name).console.join('\n')).toMatch(/WARNING: aborted while switching: .*sidecarctl call environment.quietDown/);
  });

  it('the switch job has a timeout, so one hung call cannot block every later switch', () => {
    const timeout = get('generated: self-managed switch').options.find((o) => o.name === 'timeout');
    expect(timeout?.args).toEqual([{ time: 90, unit: 'MINUTES' }]);
  });

  it("the emergency rollback's catch does not swallow a user's abort", () => {
    const name = 'generated: emergency rollback aborted while lifting quiet-down';
    expect(get(name).result).toBe('ABORTED');
    expect(get(name).console.join('\n')).not.toContain('WARNING: could not lift quiet-down');
  });

  it('the backup cron on the idle controller skips and says so; the serving one backs up', () => {
    const idle = 'generated: backup on the idle controller';
    expect(get(idle).result).toBe('SUCCESS');
    expect(methods(idle)).toEqual(['environment.status']);
    expect(get(idle).console).toContain('Backup skipped: this controller (green) is idle; blue serves and makes the backup');
    expect(methods('generated: backup on the serving controller')).toEqual(['environment.status', 'backup.create', 'backup.list', 'coordination.update']);
  });

  it('after a build the jobs keep the Job DSL parameters (the Jenkinsfiles declare none)', () => {
    for (const [name, job] of [
      ['generated: second switch build keeps the Job DSL parameters', 'Self-Managed-Blue-Green-Switch'],
      ['generated: second rollback build keeps the Job DSL parameters', 'Emergency-Rollback'],
      ['generated: second coordination build keeps the Job DSL parameters', 'Infrastructure-Coordination'],
    ]) {
      expect(jobParameters.get(job)!.length).toBeGreaterThan(0);
      expect(get(name).parametersAfter).toEqual(jobParameters.get(job));
    }
  });

  it('updateCoordinationState accepts NOT_BUILT, a result Jenkins has', () => {
    expect(get('updateCoordinationState accepts NOT_BUILT').error).toBeNull();
    expect(callOf('updateCoordinationState accepts NOT_BUILT', 'coordination.update').params).toMatchObject({ status: 'NOT_BUILT' });
  });
});

describe('generated Job DSL', () => {
  type Job = { type: string; fullName: string; parameters?: { name: string; type: string; choices?: string[] }[]; properties?: Record<string, unknown>; definition?: { cpsScm?: { scriptPath: string; scm: unknown } } };
  it('creates <team>/Infrastructure/ with the four jobs for self-managed teams only', () => {
    const r = get('job dsl seed');
    expect(r.result).toBe('SUCCESS');
    const jobs = r.jobs as Job[];
    expect(jobs.map((j) => `${j.type} ${j.fullName}`)).toEqual([
      `folder ${world.team}`,
      `folder ${world.team}/Infrastructure`,
      `pipelineJob ${world.team}/Infrastructure/Self-Managed-Blue-Green-Switch`,
      `pipelineJob ${world.team}/Infrastructure/Infrastructure-Coordination`,
      `pipelineJob ${world.team}/Infrastructure/Emergency-Rollback`,
      `pipelineJob ${world.team}/Infrastructure/backup`,
    ]);
    const byName = new Map(jobs.map((j) => [j.fullName.split('/').pop(), j]));
    expect(byName.get('Self-Managed-Blue-Green-Switch')!.parameters).toEqual([
      { type: 'choice', name: 'TARGET_ENVIRONMENT', choices: ['green', 'blue'], description: 'Target environment to switch to' },
      { type: 'choice', name: 'COORDINATION_MODE', choices: ['safe', 'force'], description: 'Coordination safety mode' },
    ]);
    expect(byName.get('Infrastructure-Coordination')!.parameters!.map((x) => x.name)).toEqual(['OPERATION_TYPE', 'OPERATION_DETAILS']);
    expect(byName.get('Emergency-Rollback')!.parameters!.map((x) => x.name)).toEqual(['ROLLBACK_REASON', 'TARGET_ENVIRONMENT']);
    expect(byName.get('backup')!.properties).toMatchObject({ pipelineTriggers: [{ cron: 'H 2 * * *' }] });
    for (const j of jobs.filter((x) => x.type === 'pipelineJob')) {
      const scm = j.definition!.cpsScm!;
      expect(existsSync(join(out, scm.scriptPath))).toBe(true);
      expect(scm.scm).toEqual({ git: { remotes: [{ url: 'file:///var/lib/jenkins-selfmanage/library.git' }], branches: ['main'] } });
    }
  });

  it('the emulation accepts only the real plugin API', () => {
    expect(get('job dsl: deprecated triggers{} is refused').result).toBe('FAILURE');
    expect(get('job dsl: deprecated triggers{} is refused').error).toMatch(/MissingMethodException.*triggers/);
    expect(get('job dsl: concurrentBuild() is refused').error).toMatch(/MissingMethodException.*concurrentBuild/);
    expect(get('job dsl: parent folder first').error).toMatch(/unknown parent path in "a\/b"/);
  });
});

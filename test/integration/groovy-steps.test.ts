import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STEPS } from '../../catalog/steps';
import { controlAnswers } from '../groovy/fake-answers-control';
import { FakeWorld, schemaProblems } from '../groovy/fake-scenario';
import { byName, generate, runScenarios, type ScenarioResult } from '../groovy/harness-runner';

/**
 * Every generated step, called from real Groovy 2.4 through the harness: `sh`
 * really runs sidecarctl's stand-in (test/groovy/fake-sidecarctl.js, which keeps
 * sidecarctl's exit codes and files) and ansible-playbook. Success and failure
 * paths; every call's params are checked with the sidecar's own zod schema.
 * (groovy-live-sidecar.test.ts runs the core steps against a real sidecar.)
 */
const root = mkdtempSync(join(tmpdir(), 'jsm-groovy-steps-'));
const world = new FakeWorld(root);
const lib = join(root, 'out', 'library');
let results: Map<string, ScenarioResult>;

const s = (name: string, script: string, answers: Record<string, unknown> = {}, env: Record<string, string> = {}, credentials?: Record<string, string>) =>
  world.scenario(name, { script, ...(credentials ? { credentials } : {}) }, answers, env);

const sidecarError = (code: string, message: string, reason?: string) => ({ error: { code, message, ...(reason ? { reason } : {}) } });

beforeAll(async () => {
  generate(world.teamsYaml(), join(root, 'out'));
  const scenarios = [
    s(
      'all steps succeed',
      `
      def out = [:]
      out.leader = establishCoordinationLeadership()
      out.consensus = requestInfrastructureConsensus([operation: 'blue_green_switch', target: 'green', coordinator: env.JENKINS_URL])
      out.lock = acquireInfrastructureLock([operation: 'blue_green_switch', timeout: '10m', coordinator: currentBuild.projectName])
      out.switch = progressiveTrafficSwitch([target: 'green', increments: [5, 10, 25, 50, 100], validation_time: 60,
          rollback_triggers: ['error_rate > 2%', 'response_time > 2000ms', 'availability < 99.5%']])
      out.current = getCurrentEnvironment()
      out.previous = getPreviousEnvironment()
      out.migrate = migrateRuntimeState([source: out.current, target: 'green'])
      out.validate = validateEnvironmentHealth([environment: 'green'])
      out.quiet = quietDownEnvironment(environment: 'blue', cancel: true)
      out.rollback = executeEmergencyRollback([reason: 'drill', target: 'blue'])
      out.breakers = getBreakerStatus()
      out.backup = createBackup(environment: 'green')
      out.backups = listBackups()
      out.setup = setupCoordination(operation: 'plugin_update', details: 'bump git plugin')
      out.consensus2 = buildConsensus(operation: 'plugin_update', timeout: 300)
      out.exec = coordinatedExecution(operation: 'plugin_update', details: 'bump git plugin')
      out.update = updateCoordinationState([operation: 'blue_green_switch', status: currentBuild.result, environment: 'green'])
      out.release = releaseInfrastructureLock()
      out.block = withInfrastructureLock(name: 'plugin_update', timeout: '30m') { return "inside with token " + env.JSM_LOCK_TOKEN }
      out.pause = pauseTrafficSwitch(reason: 'looking at 25%', maxPauseSec: '30m')
      out.resume = resumeTrafficSwitch(reason: 'fine at 25%', operationId: 'op-switch-1')
      out.promote = promoteTrafficSwitch(reason: 'window closing', full: true)
      out.abort = abortTrafficSwitch(reason: 'drill', hold: true)
      return out
      `,
      controlAnswers(world.team, world.build),
    ),
    s('ansible playbook from the library', `return executeAnsiblePlaybook(playbook: 'deploy-jenkins-environment.yml', extraVars: [target_environment: 'green', deployment_mode: 'self_managed', note: 'it\\'s "quoted"; $(touch /tmp/pwned-jsm)'])`),
    s('ansible deploy fails', `executeAnsiblePlaybook(playbook: 'deploy-jenkins-environment.yml', extraVars: [target_environment: 'green'])`, {
      'environment.deploy': sidecarError('DEPENDENCY_DOWN', 'Docker is not reachable at /var/run/docker.sock'),
    }),
    s('ansible unknown playbook', `executeAnsiblePlaybook(playbook: 'nowhere.yml')`),
    s('unknown argument', `acquireInfrastructureLock(operation: 'blue_green_switch', timout: '10m')`),
    s('bad trigger metric', `progressiveTrafficSwitch(target: 'green', rollback_triggers: ['latency > 5ms'])`),
    s('bad trigger unit', `progressiveTrafficSwitch(target: 'green', rollback_triggers: ['error_rate > 2ms'])`),
    s('bad trigger operator', `progressiveTrafficSwitch(target: 'green', rollback_triggers: ['error_rate => 2%'])`),
    s('bad environment', `validateEnvironmentHealth(environment: 'purple')`),
    s('bad check name', `validateEnvironmentHealth(environment: 'green', checks: ['container_health', 'vibes'])`),
    s('missing required', `executeEmergencyRollback(target: 'blue')`),
    s('bad duration', `acquireInfrastructureLock(timeout: 'ten minutes')`),
    s('switch without a lock', `progressiveTrafficSwitch(target: 'green')`),
    s('increments not ending at 100', `acquireInfrastructureLock(); progressiveTrafficSwitch(target: 'green', increments: [5, 50])`),
    s('switch breach', `acquireInfrastructureLock(); progressiveTrafficSwitch(target: 'green')`, {
      'traffic.switch': sidecarError('SLI_BREACH', 'error_rate 7.1% > 2% at 25%: rolled back to blue'),
    }),
    s('lock held', `acquireInfrastructureLock(operation: 'blue_green_switch')`, {
      'lock.acquire': sidecarError('LOCK_HELD', 'lock blue_green_switch is held by other/job#3 until 00:10:00Z; wait or run `sidecarctl locks`'),
    }),
    s('switch target not ready', `acquireInfrastructureLock(); progressiveTrafficSwitch(target: 'green')`, {
      'traffic.switch': sidecarError('CONFLICT', 'target jenkins_green is DOWN after 120s; deploy or fix the green environment first. No traffic was moved', 'target_not_ready'),
    }),
    s(
      'a pipeline switches on the reason',
      `
      acquireInfrastructureLock()
      try {
        progressiveTrafficSwitch(target: 'green')
        return 'switched'
      } catch (e) {
        return e.message.startsWith('progressiveTrafficSwitch: CONFLICT (target_not_ready): ') ? 'deploy green first' : e.message
      }`,
      { 'traffic.switch': sidecarError('CONFLICT', 'target jenkins_green is DOWN after 120s', 'target_not_ready') },
    ),
    s('release with nothing held', `return releaseInfrastructureLock()`),
    s('release no longer held', `acquireInfrastructureLock(); return releaseInfrastructureLock()`, { 'lock.release': { released: false } }),
    s('block releases on failure', `withInfrastructureLock(name: 'plugin_update') { error 'body failed' }`),
    s('consensus denied is a result', `def c = requestInfrastructureConsensus(operation: 'blue_green_switch', target: 'green'); return [approved: c.approved, reason: c.reason]`, {
      'consensus.request': { approved: false, reason: 'denied by 1 of 2', votes: [], quorum: 2, participants: 2, proposalId: 'p-2' },
    }),
    s('buildConsensus denied fails', `buildConsensus(operation: 'version_upgrade')`, {
      'consensus.request': { approved: false, reason: 'denied by 2 of 3', votes: [], quorum: 2, participants: 3, proposalId: 'p-3' },
    }),
    s('not leader', `establishCoordinationLeadership()`, { 'leadership.establish': sidecarError('NOT_LEADER', 'sc-other (health 98) leads team:x until 00:00:30Z') }),
    s('validation fails the build', `validateEnvironmentHealth(environment: 'green')`, {
      'environment.validate': { passed: false, checks: [{ name: 'container_health', passed: true, figure: 'healthy', reason: null }, { name: 'job_restoration', passed: false, figure: '10/12 jobs', reason: '2 jobs missing' }] },
    }),
    s('validation may only report', `return validateEnvironmentHealth(environment: 'green', fail_on_error: false).passed`, {
      'environment.validate': { passed: false, checks: [{ name: 'user_access', passed: false, figure: '401', reason: 'token refused' }] },
    }),
    s('migrate source equals target', `migrateRuntimeState(source: 'green', target: 'green')`),
    s('status null and bogus', `updateCoordinationState(operation: 'blue_green_switch', status: null); updateCoordinationState(operation: 'blue_green_switch', status: 'BOGUS')`),
    s('current without a switch', `return [getCurrentEnvironment(), getPreviousEnvironment()]`, {
      'environment.status': { active: 'blue', previous: 'green', weights: { blue: 100, green: 0 }, operation: null, lastKnownGood: 'blue', buildSwitch: null },
    }),
    s('current after a rolled back switch', `return [getCurrentEnvironment(), getPreviousEnvironment()]`, {
      'environment.status': { active: 'blue', previous: 'green', weights: { blue: 100, green: 0 }, operation: null, lastKnownGood: 'blue', buildSwitch: { from: 'blue', to: 'green', status: 'rolled_back' } },
    }),
    s('team from env.JENKINS_TEAM', `return getCurrentEnvironment()`, {}, { JOB_NAME: 'top-level-job', JENKINS_TEAM: world.team }),
    s('team cannot be resolved', `getCurrentEnvironment()`, {}, { JOB_NAME: 'top-level-job' }),
    s('explicit bad team', `getCurrentEnvironment(team: 'Bad Team;rm')`),
    s('missing credential', `getCurrentEnvironment()`, {}, {}, { 'other-credential': 'x' }),
    s('token refused (exit 4)', `getCurrentEnvironment()`, {}, {}, { 'sidecar-token': ' ' }),
    s('sidecarctl not installed', `getCurrentEnvironment()`, {}, { SIDECARCTL: '/nonexistent/sidecarctl' }),
    s('coordinated switch options', `return coordinatedExecution(operation: 'plugin_update', details: 'bump', increments: [50, 100], validation_time: '30s', rollback_triggers: ['error_rate > 5%'], min_samples: 10)`),
    s('idempotency keys', `acquireInfrastructureLock(); acquireInfrastructureLock(); acquireInfrastructureLock(operation: 'backup')`),
    s('quiet-down set then lifted', `quietDownEnvironment(environment: 'blue', reason: 'maintenance window'); return quietDownEnvironment(environment: 'blue', cancel: true)`),
    s('quiet-down bad reason', `quietDownEnvironment(environment: 'blue', reason: 'x\\nrm -rf /')`),
  ];
  results = byName(await runScenarios(lib, scenarios, join(root, 'work')));
}, 240_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

const get = (name: string): ScenarioResult => {
  const r = results.get(name);
  if (!r) throw new Error(`no result for ${name}`);
  return r;
};
const methods = (name: string) => world.calls(name).map((c) => c.method);
const callOf = (name: string, method: string, n = 0) => world.calls(name).filter((c) => c.method === method)[n]!;

describe('every step, successful', () => {
  it('runs, sends params the sidecar schema accepts, and returns plain values', () => {
    const r = get('all steps succeed');
    expect(r.error).toBeNull();
    expect(r.result).toBe('SUCCESS');
    const v = r.value as Record<string, Record<string, unknown>>;
    expect(v.consensus).toMatchObject({ approved: true, quorum: 1 });
    expect(v.lock).toMatchObject({ token: 42 });
    expect(v.current).toBe('blue');
    expect(v.previous).toBe('blue');
    expect(v.update).toMatchObject({ recorded: true });
    expect(v.release).toEqual({ released: true, operations: ['blue_green_switch'] });
    expect(v.block).toBe('inside with token 42');
    expect(v.pause).toMatchObject({ command: 'pause', state: 'paused' });
    expect(callOf('all steps succeed', 'traffic.pause').params).toMatchObject({ team: world.team, reason: 'looking at 25%', maxPauseSec: 1800 });
    expect(callOf('all steps succeed', 'traffic.resume').params).toMatchObject({ team: world.team, reason: 'fine at 25%', operationId: 'op-switch-1' });
    expect(callOf('all steps succeed', 'traffic.promote').params).toMatchObject({ team: world.team, full: true });
    expect(callOf('all steps succeed', 'traffic.abort').params).toMatchObject({ team: world.team, hold: true });
    const calls = world.calls('all steps succeed');
    for (const c of calls) {
      expect(c.token).toBe(true);
      expect(c.url).toMatch(/^ws:\/\/127\.0\.0\.1:8765\/rpc$/);
      expect(c.params.build).toBe(world.build);
    }
    const problems = calls.flatMap(schemaProblems).filter((p) => !/no schema in catalog\/methods yet/.test(p));
    expect(problems).toEqual([]);
  });

  it('calls one step per catalog entry (each step is exercised here)', () => {
    const called = new Set(get('all steps succeed').steps);
    const missing = STEPS.map((x) => x.name).filter((n) => !called.has(n) && n !== 'executeAnsiblePlaybook');
    expect(missing).toEqual([]);
    expect(get('ansible playbook from the library').steps).toContain('executeAnsiblePlaybook');
  });

  it('maps the seed arguments: lock from team and operation, owned by the build; switch with the fencing token', () => {
    const acquire = callOf('all steps succeed', 'lock.acquire');
    expect(acquire.params).toMatchObject({ team: world.team, operation: 'blue_green_switch', ttlSec: 600, waitSec: 0, owner: world.build });
    const sw = callOf('all steps succeed', 'traffic.switch');
    expect(sw.params).toMatchObject({
      team: world.team,
      target: 'green',
      increments: [5, 10, 25, 50, 100],
      validationSec: 60,
      triggers: ['error_rate > 2%', 'response_time > 2000ms', 'availability < 99.5%'],
      lockToken: 42,
      lockOperation: 'blue_green_switch',
    });
    expect(callOf('all steps succeed', 'lock.renew').params).toMatchObject({ team: world.team, operation: 'blue_green_switch', token: 42, ttlSec: 5 * 60 * 2 + 600 });
    expect(callOf('all steps succeed', 'state.migrate').params).toMatchObject({ source: 'blue', target: 'green', callerBuild: world.build });
    expect(callOf('all steps succeed', 'coordination.update').params).toMatchObject({ status: 'SUCCESS', operation: 'blue_green_switch', environment: 'green' });
    expect(callOf('all steps succeed', 'lock.release').params).toMatchObject({ team: world.team, operation: 'blue_green_switch', owner: world.build });
    expect(callOf('all steps succeed', 'environment.validate').params.checks).toHaveLength(6);
  });

  it('shows progress in the console and never the token', () => {
    const console = get('all steps succeed').console.join('\n');
    expect(console).toContain('progress: {"method":"traffic.switch"');
    expect(console).toContain('[jenkins-selfmanage] acquireInfrastructureLock: holding');
    expect(console).not.toContain(world.secret);
  });

  it("passes coordinatedExecution's switch options through, in the sidecar's names, and nothing when absent", () => {
    expect(get('coordinated switch options').error).toBeNull();
    const call = callOf('coordinated switch options', 'coordination.execute');
    expect(call.params).toMatchObject({ operation: 'plugin_update', details: { text: 'bump' }, increments: [50, 100], validationSec: 30, triggers: ['error_rate > 5%'], minSamples: 10 });
    expect(schemaProblems(call)).toEqual([]);
    const plain = callOf('all steps succeed', 'coordination.execute');
    for (const k of ['increments', 'validationSec', 'triggers', 'minSamples']) expect(plain.params).not.toHaveProperty(k);
  });

  it('quietDownEnvironment: setting and lifting quiet-down on one side are two calls with their own idempotency keys', () => {
    const name = 'quiet-down set then lifted';
    expect(get(name).error).toBeNull();
    const [set, lift] = world.calls(name);
    expect(set!.params).toMatchObject({ team: world.team, environment: 'blue', cancel: false, reason: 'maintenance window' });
    expect(lift!.params).toMatchObject({ team: world.team, environment: 'blue', cancel: true });
    expect(lift!.params).not.toHaveProperty('reason');
    expect(set!.params.idempotencyKey).not.toEqual(lift!.params.idempotencyKey);
    expect([...world.calls(name).flatMap(schemaProblems)]).toEqual([]);
  });

  it('derives idempotency keys from job, build, step and operation, counting repeats', () => {
    const keys = world.calls('idempotency keys').map((c) => c.params.idempotencyKey);
    expect(keys).toEqual([
      `${world.build}/acquireInfrastructureLock/blue_green_switch/1`,
      `${world.build}/acquireInfrastructureLock/blue_green_switch/2`,
      `${world.build}/acquireInfrastructureLock/backup/1`,
    ]);
  });
});

describe('executeAnsiblePlaybook', () => {
  it('runs the shipped playbook with real ansible-playbook, extra vars through a JSON file', () => {
    const r = get('ansible playbook from the library');
    expect(r.error).toBeNull();
    expect(r.value).toBe(0);
    const deploy = callOf('ansible playbook from the library', 'environment.deploy');
    expect(deploy.params).toMatchObject({ team: world.team, target: 'green', build: world.build });
    expect(String(deploy.params.idempotencyKey)).toMatch(/executeAnsiblePlaybook/);
    expect(schemaProblems(deploy).filter((p) => !/no schema/.test(p))).toEqual([]);
    expect(r.console.join('\n')).toMatch(/PLAY RECAP/);
  });

  it('fails the build when the deployment fails, and when the playbook does not exist', () => {
    expect(get('ansible deploy fails').error).toMatch(/^executeAnsiblePlaybook: ansible-playbook \.jsm\/playbooks\/deploy-jenkins-environment\.yml failed with exit code \d+/);
    expect(get('ansible deploy fails').console.join('\n')).toContain('DEPENDENCY_DOWN');
    expect(get('ansible unknown playbook').error).toMatch(/executeAnsiblePlaybook: playbook 'nowhere.yml' is not in the workspace .*ships: deploy-jenkins-environment.yml/);
    expect(methods('ansible unknown playbook')).toEqual([]);
  });
});

describe('argument validation names the step and the argument, and calls nothing', () => {
  it.each([
    ['unknown argument', /^acquireInfrastructureLock: unknown argument 'timout'; accepted: operation, timeout, wait, coordinator, team$/],
    ['bad trigger metric', /progressiveTrafficSwitch: argument 'rollbackTriggers'\[0\]: invalid rollback trigger 'latency > 5ms': unknown metric latency\nA rollback trigger is/],
    ['bad trigger unit', /argument 'rollbackTriggers'\[0\]: invalid rollback trigger 'error_rate > 2ms': error_rate needs a unit of %/],
    ['bad trigger operator', /argument 'rollbackTriggers'\[0\]: invalid rollback trigger 'error_rate => 2%': expected <metric> <operator> <number><unit>/],
    ['bad environment', /^validateEnvironmentHealth: argument 'environment': expected 'blue' or 'green', got 'purple'$/],
    ['bad check name', /^validateEnvironmentHealth: argument 'checks'\[1\]: 'vibes' is not one of: container_health, /],
    ['missing required', /^executeEmergencyRollback: argument 'reason' is required/],
    ['bad duration', /^acquireInfrastructureLock: argument 'timeout': expected a duration such as 90s, 10m or 1h/],
    ['switch without a lock', /^progressiveTrafficSwitch: this build holds no lock devops-[0-9a-f]+:blue_green_switch; call acquireInfrastructureLock/],
    ['migrate source equals target', /^migrateRuntimeState: source and target are both 'green'/],
    ['team cannot be resolved', /^getCurrentEnvironment: cannot tell which team to act on: pass team: '<name>', set env.JENKINS_TEAM, or run the job inside the team's folder \(JOB_NAME is 'top-level-job'\)$/],
    ['explicit bad team', /^getCurrentEnvironment: argument 'team': 'Bad Team;rm' does not match/],
    ['quiet-down bad reason', /^quietDownEnvironment: argument 'reason': 'x\nrm -rf \/' does not match/],
  ])('%s', (name, message) => {
    const r = get(name);
    expect(r.result).toBe('FAILURE');
    expect(r.error).toMatch(message);
    expect(methods(name)).toEqual([]);
  });

  it('rejects increments the sidecar would refuse, after taking the lock only', () => {
    expect(get('increments not ending at 100').error).toMatch(/^progressiveTrafficSwitch: argument 'increments': the last step must be 100/);
    expect(methods('increments not ending at 100')).toEqual(['lock.acquire']);
  });

  it('treats status null as SUCCESS and refuses an unknown status', () => {
    const r = get('status null and bogus');
    expect(callOf('status null and bogus', 'coordination.update').params.status).toBe('SUCCESS');
    expect(r.error).toMatch(/^updateCoordinationState: argument 'status': 'BOGUS' is not one of: SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED$/);
  });
});

describe('sidecar errors become build errors with the code', () => {
  it.each([
    ['switch breach', /^progressiveTrafficSwitch: SLI_BREACH: error_rate 7.1% > 2% at 25%: rolled back to blue$/],
    ['lock held', /^acquireInfrastructureLock: LOCK_HELD: lock blue_green_switch is held by other\/job#3/],
    ['not leader', /^establishCoordinationLeadership: NOT_LEADER: sc-other/],
    ['buildConsensus denied fails', /^buildConsensus: CONSENSUS_DENIED: version_upgrade was not approved: denied by 2 of 3$/],
    ['validation fails the build', /^validateEnvironmentHealth: green failed: job_restoration \(2 jobs missing\)$/],
    ['block releases on failure', /^body failed$/],
    ['switch target not ready', /^progressiveTrafficSwitch: CONFLICT \(target_not_ready\): target jenkins_green is DOWN after 120s; deploy or fix the green environment first\. No traffic was moved$/],
  ])('%s', (name, message) => {
    expect(get(name).result).toBe('FAILURE');
    expect(get(name).error).toMatch(message);
  });

  it('the block form releases its lock when the body fails', () => {
    expect(methods('block releases on failure')).toEqual(['lock.acquire', 'lock.release']);
    expect(callOf('block releases on failure', 'lock.release').params).toMatchObject({ operation: 'plugin_update', owner: world.build });
  });

  it("a CONFLICT's reason reaches the pipeline in the error's message", () => {
    expect(get('a pipeline switches on the reason')).toMatchObject({ result: 'SUCCESS', value: 'deploy green first' });
  });

  it('a consensus denial is returned, not thrown', () => {
    expect(get('consensus denied is a result').result).toBe('SUCCESS');
    expect(get('consensus denied is a result').value).toEqual({ approved: false, reason: 'denied by 1 of 2' });
  });

  it('validation can report without failing', () => {
    expect(get('validation may only report').value).toBe(false);
    expect(get('validation may only report').result).toBe('SUCCESS');
  });
});

describe('locks owned by the build', () => {
  it('release without arguments is a quiet no-op when the build holds nothing', () => {
    const r = get('release with nothing held');
    expect(r.result).toBe('SUCCESS');
    expect(r.value).toEqual({ released: false, operations: [] });
    expect(methods('release with nothing held')).toEqual([]);
  });

  it('a lock that expired meanwhile is not an error', () => {
    expect(get('release no longer held').result).toBe('SUCCESS');
    expect(get('release no longer held').value).toEqual({ released: false, operations: [] });
  });
});

describe('getCurrentEnvironment / getPreviousEnvironment', () => {
  it('return the side serving when this build has not switched', () => {
    expect(get('current without a switch').value).toEqual(['blue', 'blue']);
  });
  it("return the side this build's switch started from, also after its rollback", () => {
    expect(get('current after a rolled back switch').value).toEqual(['blue', 'blue']);
  });
  it('take the team from env.JENKINS_TEAM when the job is not in a team folder', () => {
    expect(get('team from env.JENKINS_TEAM').result).toBe('SUCCESS');
    expect(callOf('team from env.JENKINS_TEAM', 'environment.status').params.team).toBe(world.team);
  });
});

describe('reaching the sidecar', () => {
  it('names the missing credential', () => {
    expect(get('missing credential').error).toBe("Could not find credentials entry with ID 'sidecar-token'");
  });
  it('explains exit 4 (cannot connect or authenticate)', () => {
    expect(get('token refused (exit 4)').error).toMatch(/^getCurrentEnvironment: cannot reach or authenticate to the sidecar for environment.status: .*credential 'sidecar-token' holds a valid token/);
  });
  it('explains a missing sidecarctl', () => {
    expect(get('sidecarctl not installed').error).toMatch(/^getCurrentEnvironment: sidecarctl was not found on the agent: put it on PATH or set env.SIDECARCTL/);
  });
});

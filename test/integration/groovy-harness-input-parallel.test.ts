import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeWorld } from '../groovy/fake-scenario';
import { answerInput, byName, generate, pendingInputs, refusedAnswer, startScenarios, type PendingInput, type ScenarioResult } from '../groovy/harness-runner';
import { eventually } from '../support/eventually';

/**
 * The harness's `input`, `timeout` around it and `parallel`, as pipeline-input-step and
 * workflow-cps have them (sources cited in test/groovy/jsm/harness/InputSteps.groovy and
 * ParallelSteps.groovy): the test answers each prompt through the harness's stand-in for the
 * InputAction REST (proceedEmpty / abort as a user), while the build waits for it.
 */
jest.setTimeout(260_000);
const root = mkdtempSync(join(tmpdir(), 'jsm-harness-input-'));
const world = new FakeWorld(root);
const inputDir = (name: string) => join(root, 'input', name.replace(/\W+/g, '_'));
let results: Map<string, ScenarioResult>;
const refused: Record<string, string | null> = {};
const seen: Record<string, PendingInput> = {};

const scripts: Record<string, string> = {
  'proceed by a submitter': "def v = input(id: 'ship', message: 'Ship it?', ok: 'Ship', submitter: 'alice, bob', submitterParameter: 'who', retries: 2)\necho \"got ${v}\"",
  'abort is a rejection': [
    'try {',
    "    input message: 'Go on?'",
    '} catch (org.jenkinsci.plugins.workflow.steps.FlowInterruptedException e) {',
    '    def r = e.causes.find { it instanceof org.jenkinsci.plugins.workflow.support.steps.input.Rejection }',
    '    echo "rejected by ${r.user.id}, result ${e.result}"',
    '    throw e',
    '}',
  ].join('\n'),
  'timeout ends an input': [
    'try {',
    "    timeout(time: 1, unit: 'SECONDS') { input message: 'nobody answers', id: 'Never' }",
    '} catch (org.jenkinsci.plugins.workflow.steps.FlowInterruptedException e) {',
    '    echo "timed out: ${e.causes.any { it instanceof org.jenkinsci.plugins.workflow.steps.TimeoutStepExecution.ExceededTimeout }}"',
    '    throw e',
    '}',
  ].join('\n'),
  'failFast stops the waiting branch': "parallel(failFast: true, fails: { sleep 1; error 'fails broke' }, waits: { input message: 'wait', id: 'Waits' })",
  'branches interleave with their own env': [
    // slow can only end once quick has run: the branches must run side by side (bounded to 60 s).
    "def r = parallel(slow: { withEnv(['ONLY_SLOW=1']) { sh 'for i in $(seq 600); do [ -f quick.done ] && break; sleep 0.1; done; echo slow sees $ONLY_SLOW' }; 'S' },",
    "                 quick: { sh 'echo quick sees ${ONLY_SLOW:-nothing}; touch quick.done'; 'Q' })",
    'echo "values ${r.sort()}"',
  ].join('\n'),
  'without failFast the most severe failure': "parallel(aborts: { error 'plain step error' }, breaks: { sleep 1; throw new IllegalStateException('a bug') })",
  'parallel refuses other arguments': "parallel(a: { echo 'a' }, retries: 3)",
};

beforeAll(async () => {
  generate(world.teamsYaml(), join(root, 'out'));
  const scenarios = Object.entries(scripts).map(([name, script]) => world.scenario(name, { script, build: { inputDir: inputDir(name) } }));
  const running = await startScenarios(join(root, 'out', 'library'), scenarios, join(root, 'work'));
  try {
    const waitFor = (name: string, id: string) =>
      eventually(`input ${id} of "${name}" waits`, async () => pendingInputs(inputDir(name)).find((p) => p.id === id) ?? null, 60_000);
    seen.ship = await waitFor('proceed by a submitter', 'Ship');
    answerInput(inputDir('proceed by a submitter'), 'Ship', 'proceedEmpty', 'mallory');
    refused.ship = await eventually('the answer of a non-submitter is refused', async () => refusedAnswer(inputDir('proceed by a submitter'), 'Ship'), 30_000);
    answerInput(inputDir('proceed by a submitter'), 'Ship', 'proceedEmpty', 'bob');
    const goOn = await eventually('input of "abort is a rejection" waits', async () => pendingInputs(inputDir('abort is a rejection'))[0] ?? null, 60_000);
    seen.goOn = goOn;
    answerInput(inputDir('abort is a rejection'), goOn.id, 'abort', 'carol');
    results = byName(await running.done);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nharness output: ${running.output()}`);
  } finally {
    await running.kill();
  }
});

afterAll(() => (process.env.JSM_KEEP ? undefined : rmSync(root, { recursive: true, force: true })));

const r = (name: string) => results.get(name)!;

describe('input', () => {
  it('waits until a submitter proceeds, refusing others, and returns the submitterParameter value', () => {
    expect(seen.ship).toEqual({ id: 'Ship', message: 'Ship it?', ok: 'Ship', cancel: 'Abort', submitter: 'alice, bob' });
    expect(refused.ship).toBe('You need to be alice, bob to submit this.');
    expect(r('proceed by a submitter').result).toBe('SUCCESS');
    expect(r('proceed by a submitter').console).toEqual(expect.arrayContaining(["WARNING: Unknown parameter(s) found for class type 'org.jenkinsci.plugins.workflow.support.steps.input.InputStep': retries", 'Ship it?', 'Ship or Abort', 'Approved by bob', 'got bob']));
    expect(pendingInputs(inputDir('proceed by a submitter'))).toEqual([]);
  });

  it('an abort throws FlowInterruptedException(ABORTED) with a Rejection naming who; the id is the message digest, capitalised', () => {
    expect(seen.goOn!.id).toMatch(/^[0-9A-F][0-9a-f]{31}$/);
    expect(r('abort is a rejection')).toMatchObject({ result: 'ABORTED' });
    expect(r('abort is a rejection').console).toContain('rejected by carol, result ABORTED');
  });

  it('a timeout around it ends it with ExceededTimeout', () => {
    expect(r('timeout ends an input')).toMatchObject({ result: 'ABORTED' });
    expect(r('timeout ends an input').console).toContain('timed out: true');
  });
});

describe('parallel', () => {
  it('with failFast stops the branch waiting at input and fails with the first failure', () => {
    const x = r('failFast stops the waiting branch');
    expect(x.result).toBe('FAILURE');
    expect(x.error).toBe('fails broke');
    expect(x.console).toEqual(expect.arrayContaining(['Failed in branch fails', 'Failed in branch waits']));
    expect(pendingInputs(inputDir('failFast stops the waiting branch'))).toEqual([]);
  });

  it('runs branches concurrently, each with its own withEnv, and returns their values by name', () => {
    const x = r('branches interleave with their own env');
    expect(x.result).toBe('SUCCESS');
    const lines = x.console;
    // The quick branch ran while the slow one waited for it, and did not see the slow one's withEnv.
    expect(lines.indexOf('quick sees nothing')).toBeGreaterThanOrEqual(0);
    expect(lines.indexOf('quick sees nothing')).toBeLessThan(lines.indexOf('slow sees 1'));
    expect(lines).toContain('values [quick:Q, slow:S]');
  });

  it('without failFast lets every branch end and throws the most severe failure', () => {
    const x = r('without failFast the most severe failure');
    expect(x.result).toBe('FAILURE');
    expect(x.error).toBe('java.lang.IllegalStateException: a bug');
    expect(x.console).toEqual(expect.arrayContaining(['Failed in branch aborts', 'Failed in branch breaks']));
  });

  it('refuses arguments other than closures and failFast, as ParallelStep does', () => {
    expect(r('parallel refuses other arguments').error).toBe('java.lang.IllegalArgumentException: Expected a closure or failFast but found retries=3');
  });
});

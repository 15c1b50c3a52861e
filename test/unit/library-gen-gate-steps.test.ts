import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { planFromTeamsText } from '../../library-gen/src/plan';
import { loadTemplates } from '../../library-gen/src/template-source';
import { METHODS } from '../../catalog/methods';
import { STEPS } from '../../catalog/steps';

/**
 * The pipeline side of approval gates as library-gen renders it: the four steps a
 * person in the loop uses, each one sidecarctl call of its traffic-control method, and
 * progressiveTrafficSwitch's approvalAt with the input gate beside the switch call.
 * (Their behaviour runs in the Groovy harness: groovy-live-gates.test.ts.)
 */
const root = join(__dirname, '..', '..');
const r = planFromTeamsText(readFileSync(join(root, 'examples', 'teams.yml'), 'utf8'), 'examples/teams.yml', loadTemplates(root));
if (!r.ok) throw new Error(r.errors.join('\n'));
const plan = r.plan;
const vars = (name: string) => plan.get(`library/vars/${name}.groovy`)!;

describe('steps of a person in the loop', () => {
  it.each([
    ['pauseTrafficSwitch', 'traffic.pause', ['reason', 'maxPauseSec', 'operationId']],
    ['resumeTrafficSwitch', 'traffic.resume', ['reason', 'operationId']],
    ['promoteTrafficSwitch', 'traffic.promote', ['reason', 'full', 'operationId']],
    ['abortTrafficSwitch', 'traffic.abort', ['reason', 'hold', 'operationId']],
  ])('%s calls %s through sidecarctl with params its schema knows', (step, method, params) => {
    const spec = STEPS.find((s) => s.name === step)!;
    expect(spec).toMatchObject({ rpc: method, mutating: true, team: true });
    expect(spec.params.filter((p) => p.rpc).map((p) => p.rpc)).toEqual(params);
    const shape = (METHODS.get(method)!.params as unknown as { _def: { shape?: Record<string, unknown> } })._def.shape ?? {};
    for (const p of params) expect(Object.keys(shape)).toContain(p);
    expect(vars(step)).toContain(`jsmSidecar.rpc('${step}', '${method}', params, [mutating: true])`);
    expect(plan.get(`library/vars/${step}.txt`)).toContain(step);
  });
});

describe('progressiveTrafficSwitch with approvalAt', () => {
  const text = vars('progressiveTrafficSwitch');

  it('sends approvalAt to traffic.switch and checks it names steps of increments', () => {
    expect(text).toMatch(/\[name: 'approvalAt', type: 'integerList', aliases: \['approval_at'\], 'default': \[\], min: 1, max: 100, rpc: 'approvalAt'/);
    expect(text).toContain('gatesProblem(a.increments as List, a.approvalAt as List)');
    // approvers is the input's submitter, not an RPC param.
    const approvers = text.split('\n').find((l) => l.includes("[name: 'approvers'"))!;
    expect(approvers).toContain("type: 'string'");
    expect(approvers).not.toContain('rpc:');
  });

  it('runs the switch and the gate prompt side by side with failFast, answering resume or abort', () => {
    expect(text).toContain('parallel(\n        failFast: true,');
    expect(text).toContain("'traffic switch': {");
    expect(text).toContain("'approval gates': {");
    expect(text).toContain('user = input(prompt)');
    expect(text).toContain("String verb = answer.approved ? 'traffic.resume' : 'traffic.abort'");
    expect(text).toContain("allow: ['NOT_FOUND', 'CONFLICT:control_refused']");
    // What Jenkins throws is what the step tells apart (a rejection, the prompt's timeout, anything else rethrown).
    expect(text).toContain('import org.jenkinsci.plugins.workflow.support.steps.input.Rejection');
    expect(text).toContain('e.causes.any { it instanceof TimeoutStepExecution.ExceededTimeout }');
    expect(text).toMatch(/if \(timedOut\(e\)\) \{\n\s+return \[retry: true\]\n\s+\}\n\s+throw e/);
  });

  it('keeps the closures CPS can run: helpers that iterate with closures are @NonCPS', () => {
    for (const helper of ['gateOf', 'rejection', 'timedOut', 'gatesProblem', 'switchLeaseSec']) {
      expect(text).toMatch(new RegExp(`@NonCPS\\nprivate static \\w+ ${helper}\\(`));
    }
  });
});

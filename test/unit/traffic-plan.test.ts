import { trafficPlanParams } from '../../catalog/methods/traffic-plan';
import { duration, formatPlan } from '../../agent/src/cli/ctl-plan';
import { EXIT, runSidecarctl } from '../../agent/src/cli/sidecarctl';
import type { SwitchPlan } from '../../agent/src/traffic/plan/plan-switch';
import type { SideFacts } from '../../agent/src/traffic/plan/side-facts';
import { planDuration, planSteps, windowBounds } from '../../agent/src/traffic/plan/steps';
import type { StoreFacts } from '../../agent/src/traffic/plan/store-facts';
import { judgePlan, type VerdictInput } from '../../agent/src/traffic/plan/verdict';

const params = (extra: Record<string, unknown> = {}) => trafficPlanParams.parse({ team: 'devops', target: 'green', ...extra });

describe('traffic.plan params', () => {
  it("are traffic.switch's with lockToken optional, and refuse what the switch refuses", () => {
    expect(params().lockToken).toBeUndefined();
    expect(params({ lockToken: 7 }).lockToken).toBe(7);
    expect(trafficPlanParams.safeParse({ team: 'devops', target: 'green', approvalAt: [30] }).success).toBe(false);
    expect(trafficPlanParams.safeParse({ team: 'devops', target: 'green', increments: [50, 25, 100] }).success).toBe(false);
    expect(trafficPlanParams.safeParse({ team: 'devops', target: 'green', surprise: 1 }).success).toBe(false);
  });
});

describe('plan steps and durations', () => {
  it('a step per increment with both weights, gates from {percent, approve} and approvalAt', () => {
    const steps = planSteps(params({ increments: [10, { percent: 50, approve: true }, 100], approvalAt: [100] }), 'green');
    expect(steps.map((s) => [s.percent, s.gate, s.weights])).toEqual([
      [10, false, { blue: 90, green: 10 }],
      [50, true, { blue: 50, green: 50 }],
      [100, true, { blue: 0, green: 100 }],
    ]);
    expect(planSteps(params({ target: 'blue', increments: [40, 100] }), 'blue').map((s) => s.weights)).toEqual([
      { blue: 40, green: 60 },
      { blue: 100, green: 0 },
    ]);
  });

  it('a window lasts validationSec, up to maxWindowSec (default 3x) short of samples, plus holdSec when it holds', () => {
    expect(windowBounds(params({ validationSec: 60 }))).toEqual({ min: 60, max: 180 });
    expect(windowBounds(params({ validationSec: 60, maxWindowSec: 100 }))).toEqual({ min: 60, max: 100 });
    // A maxWindowSec below validationSec does not cut the window short of validationSec.
    expect(windowBounds(params({ validationSec: 60, maxWindowSec: 10 }))).toEqual({ min: 60, max: 60 });
    expect(windowBounds(params({ validationSec: 60, onInsufficientSamples: 'hold', holdSec: 600 }))).toEqual({ min: 60, max: 780 });
  });

  it('the triggers are read back as text with what they measure', () => {
    const [step] = planSteps(params({ triggers: ['error_rate > 2%', 'response_time > 1.5s'], minSamples: 20 }), 'green');
    expect(step!.judgedBy).toEqual([
      'error_rate > 2% (5xx and connection errors per request on the target in the window; judged once the window has 20 requests)',
      "response_time > 1500ms (HAProxy's mean response time of the target in the window; judged once the window has 20 requests)",
      'any failed synthetic Jenkins transaction (when the sidecar runs them)',
    ]);
  });

  it('min is every window at its first chance; max adds every bounded wait; a gate has no max', () => {
    const p = params({ increments: [50, 100], validationSec: 10, readyTimeoutSec: 30, drainTimeoutSec: 20 });
    const steps = planSteps(p, 'green');
    expect(planDuration(p, steps, { targetReady: true, agentsMove: false })).toEqual({ min: 20, max: 60 + 20 });
    // Not ready: up to readyTimeoutSec first; agents: up to drainTimeoutSec for builds, as long again to arrive.
    expect(planDuration(p, steps, { targetReady: false, agentsMove: true })).toEqual({ min: 20, max: 60 + 30 + 20 + 40 });
    const gated = params({ increments: [50, 100], approvalAt: [50], validationSec: 10 });
    expect(planDuration(gated, planSteps(gated, 'green'), { targetReady: true, agentsMove: false })).toEqual({ min: 20, max: null });
  });

  it('formats durations for a person', () => {
    expect([duration(0), duration(45), duration(90), duration(3600), duration(3725)]).toEqual(['0s', '45s', '1m30s', '1h', '1h2m5s']);
  });
});

const side = (over: Partial<SideFacts> = {}): SideFacts => ({
  server: 'devops-x',
  haproxy: { status: 'UP', admin: 'ready', weight: 0, sessions: 0, checkStatus: 'L7OK', peopleAnswers: null },
  container: { name: 'jenkins-devops-x', state: 'running', health: null },
  jenkins: { answered: true, error: null, running: [], queued: [], agents: [] },
  ...over,
});

const storeFacts = (over: Partial<StoreFacts> = {}): StoreFacts => ({
  lock: 'devops:blue_green_switch',
  grant: { lockName: 'devops:blue_green_switch', token: 5, holder: 'devops/switch#1', expiresAt: new Date('2026-01-01T00:10:00Z') },
  isHolder: true,
  breaker: { name: 'infrastructure_modification:devops', state: 'closed', failures: 0, openedAt: null, retryAt: null, lastReason: null, wouldAdmit: 'yes' },
  consensus: { state: 'none', operation: null, operationId: null, at: null, reason: null },
  running: [],
  environment: { team: 'devops', active: 'blue', previous: null, weights: { blue: 100, green: 0 }, lastKnownGood: 'blue', updatedAt: new Date(0), recorded: true },
  ...over,
});

const input = (over: Partial<VerdictInput> = {}): VerdictInput => ({
  team: 'devops',
  source: 'blue',
  target: 'green',
  lockToken: 5,
  readyTimeoutSec: 30,
  drainTimeoutSec: 30,
  syncTarget: false,
  store: storeFacts(),
  haproxy: { answered: true, error: null, tb: { team: 'devops', web: 'devops', backends: ['devops'], servers: { blue: 'devops-blue', green: 'devops-green' } }, live: { blue: 100, green: 0 } },
  sides: { blue: side({ server: 'devops-blue' }), green: side({ server: 'devops-green' }) },
  steps: planSteps(params({ increments: [50, 100] }), 'green'),
  configured: { targetSync: true, agents: true, triggers: true, preSwitchWebhook: false },
  ...over,
});

describe('the verdict', () => {
  it('all clear: would start, nothing to prepare, rollback puts everything on the source', () => {
    const v = judgePlan(input());
    expect(v.blockers).toEqual([]);
    expect(v.warnings).toEqual([]);
    expect(v.prepareTarget.action).toBe('none');
    expect(v.rollback.weights).toEqual({ blue: 100, green: 0 });
    expect(v.sync.runs).toBe(false);
  });

  it('blocks on a stale token, an open breaker, a running switch, a target that is down', () => {
    const v = judgePlan(
      input({
        store: storeFacts({
          isHolder: false,
          breaker: { name: 'infrastructure_modification:devops', state: 'open', failures: 3, openedAt: new Date(0), retryAt: new Date('2026-01-01T00:30:00Z'), lastReason: 'SLI breach', wouldAdmit: 'no' },
          running: [{ id: 'op-1', type: 'traffic.switch', team: 'devops', status: 'running', phase: 'validating', ownerInstance: 'a', initiatedBy: 'x', idempotencyKey: null, params: {}, result: null, error: null, startedAt: new Date(0), completedAt: null, steps: [] }],
        }),
        sides: { blue: side({ server: 'devops-blue' }), green: side({ server: 'devops-green', haproxy: { status: 'DOWN', admin: 'ready', weight: 0, sessions: 0, checkStatus: 'L4CON', peopleAnswers: null } }) },
      }),
    );
    expect(v.blockers.map((b) => b.check)).toEqual(['fence', 'breaker', 'switch_running', 'target']);
    expect(v.prepareTarget.action).toBe('wait-up');
  });

  it('a target in maint is set ready first; with its container stopped that is a blocker', () => {
    const maint = { status: 'MAINT', admin: 'maint' as const, weight: 0, sessions: 0, checkStatus: '', peopleAnswers: null };
    expect(judgePlan(input({ sides: { blue: side(), green: side({ haproxy: maint }) } }))).toMatchObject({ blockers: [], prepareTarget: { action: 'set-ready', waitUpToSec: 30 } });
    const stopped = judgePlan(input({ sides: { blue: side(), green: side({ haproxy: maint, container: { name: 'jenkins-devops-green', state: 'exited', health: null } }) } }));
    expect(stopped.blockers.map((b) => b.check)).toEqual(['target']);
    // Docker not answering, or a controller it does not run: not known to be stopped.
    for (const state of ['unknown', 'missing']) {
      expect(judgePlan(input({ sides: { blue: side(), green: side({ haproxy: maint, container: { name: 'jenkins-devops-green', state, health: null } }) } })).blockers).toEqual([]);
    }
  });

  it('without a lockToken: a held lock is a warning, no lock at all a blocker', () => {
    expect(judgePlan(input({ lockToken: undefined, store: storeFacts({ isHolder: null }) })).warnings.map((w) => w.check)).toEqual(['fence']);
    expect(judgePlan(input({ lockToken: undefined, store: storeFacts({ grant: null, isHolder: null }) })).blockers.map((b) => b.check)).toEqual(['fence']);
  });

  it('warns about builds, queue and agents on the source, open sessions and what the sync would wait for', () => {
    const busy = side({
      server: 'devops-blue',
      haproxy: { status: 'UP', admin: 'ready', weight: 100, sessions: 4, checkStatus: 'L7OK', peopleAnswers: 3 },
      jenkins: { answered: true, error: null, running: ['app#7'], queued: ['nightly'], agents: ['linux-1'] },
    });
    const v = judgePlan(input({ syncTarget: true, sides: { blue: busy, green: side({ server: 'devops-green' }) } }));
    expect(v.warnings.map((w) => w.check)).toEqual(['builds', 'queue', 'agents', 'sessions']);
    expect(v.sync).toMatchObject({ runs: true, detail: expect.stringContaining('waits for its running builds (app#7)') });
    expect(v.drain).toMatchObject({ server: 'devops-blue', sessionsNow: 4 });
  });

  it('the target already serving everything: would start, and moves nothing', () => {
    const v = judgePlan(input({ store: storeFacts({ environment: { team: 'devops', active: 'green', previous: 'blue', weights: { blue: 0, green: 100 }, lastKnownGood: 'green', updatedAt: new Date(0), recorded: true } }) }));
    expect(v).toMatchObject({ alreadyActive: true, blockers: [] });
  });
});

describe('formatPlan', () => {
  it('prints the verdict first, then the findings, checks, sides, steps and bounds', () => {
    const plan: SwitchPlan = {
      team: 'devops',
      from: 'blue',
      to: 'green',
      wouldStart: false,
      alreadyActive: false,
      blockers: [{ check: 'target', detail: 'devops-green is DOWN' }],
      warnings: [{ check: 'builds', detail: 'builds running on blue: app#7' }],
      fence: { lock: 'devops:blue_green_switch', grant: { lockName: 'devops:blue_green_switch', token: 5, holder: 'ci', expiresAt: '2026-01-01T00:10:00.000Z' }, isHolder: true },
      breaker: { name: 'infrastructure_modification:devops', state: 'closed', failures: 0, openedAt: null, retryAt: null, wouldAdmit: 'yes', lastReason: null },
      consensus: { state: 'none', operation: null, operationId: null, at: null, reason: null },
      running: [],
      environment: { recorded: true, active: 'blue', previous: null, weights: { blue: 100, green: 0 }, lastKnownGood: 'blue' },
      haproxy: { answered: true, error: null, backends: ['devops'], live: { blue: 100, green: 0 }, inSync: true },
      sides: {
        blue: { role: 'source', ...side({ server: 'devops-blue', jenkins: { answered: true, error: null, running: ['app#7'], queued: [], agents: [] } }) },
        green: { role: 'target', ...side({ server: 'devops-green', jenkins: { answered: false, error: 'cannot connect', running: [], queued: [], agents: [] } }) },
      },
      prepareTarget: { action: 'refuse', detail: 'devops-green is DOWN', waitUpToSec: 30 },
      sync: { runs: false, detail: 'not asked for' },
      steps: planSteps(params({ increments: [50, 100], validationSec: 10, triggers: ['error_rate > 2%'] }), 'green'),
      durationSec: { min: 20, max: 140 },
      drain: { server: 'devops-blue', timeoutSec: 30, sessionsNow: 0, detail: 'drain then maint' },
      rollback: { weights: { blue: 100, green: 0 }, detail: 'all back on blue' },
      afterPromotion: ['agents move'],
      at: '2026-01-01T00:00:00.000Z',
    };
    const text = formatPlan(plan);
    expect(text.split('\n').slice(0, 5)).toEqual([
      'Plan: devops blue -> green (2026-01-01T00:00:00.000Z): WOULD NOT START (1 blocker)',
      'Blockers:',
      '  x target: devops-green is DOWN',
      'Warnings:',
      '  ! builds: builds running on blue: app#7',
    ]);
    expect(text).toContain('  fence      devops:blue_green_switch: held by ci (token 5, until 2026-01-01T00:10:00.000Z): your token');
    expect(text).toContain('  blue (source)   devops-blue: UP, weight 0, 0 sessions; container running; builds: app#7; queued: -; agents: -');
    expect(text).toContain('  green (target)  devops-green: UP, weight 0, 0 sessions; container running; REST did not answer (cannot connect)');
    expect(text).toContain('   50%  blue 50 / green 50  window 10s-30s');
    expect(text).toContain('Duration: 20s at least, 2m20s at most');
  });
});

describe('sidecarctl plan / switch arguments (no sidecar needed)', () => {
  const run = async (args: string[]) => {
    let err = '';
    const code = await runSidecarctl(args, { env: { SIDECAR_TOKEN: 'x'.repeat(20) }, stdout: () => undefined, stderr: (t) => (err += t) });
    return { code, err };
  };

  it('exits 2 on a missing target, a bad lock token or params that are not an object', async () => {
    expect((await run(['plan', '--team', 'devops'])).code).toBe(EXIT.USAGE);
    const token = await run(['plan', '--team', 'devops', '--target', 'green', '--lock-token', 'abc']);
    expect(token).toEqual({ code: EXIT.USAGE, err: "sidecarctl: --lock-token must be a positive number, got 'abc'\n" });
    expect((await run(['switch', '--dry-run', '--team', 'devops', '--target', 'green', '--params', '[1]'])).code).toBe(EXIT.USAGE);
  });

  it('a switch without --dry-run needs the lock token', async () => {
    const r = await run(['switch', '--team', 'devops', '--target', 'green']);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.err).toMatch(/switch needs --lock-token .* or --dry-run/);
  });
});

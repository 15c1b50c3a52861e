import { trafficSwitchParams } from '../../catalog/methods/traffic';
import type { HaproxyDriver } from '../../agent/src/haproxy/runtime-api';
import type { ServerStat, ServerState } from '../../agent/src/haproxy/stats';
import type { OperationContext, OperationRecord, TeamEnvironmentState } from '../../agent/src/store/contract';
import { InFlightSwitches } from '../../agent/src/traffic/in-flight';
import { runTrafficSwitch, trafficDeps, type SwitchOptions, type TrafficDeps } from '../../agent/src/traffic/switch';
import { SwitchControls } from '../../agent/src/traffic/switch-control';
import type { SwitchControl } from '../../agent/src/traffic/switch/control';

/**
 * The switch state machine with a fake clock, a scripted HAProxy and an
 * in-memory store: ordering (journal before apply), verdicts and rollbacks,
 * without real time passing. The real services are exercised in
 * test/integration/traffic-*.test.ts.
 */
const BACKEND = 'jenkins_backend_devops';
const BLUE = 'devops-blue';
const GREEN = 'devops-green';

class ScriptedHaproxy implements HaproxyDriver {
  weights: Record<string, number> = { [BLUE]: 100, [GREEN]: 0 };
  admin: Record<string, 'ready' | 'drain' | 'maint'> = { [BLUE]: 'ready', [GREEN]: 'ready' };
  down = new Set<string>();
  counters: Record<string, { req: number; h5: number }> = { [BLUE]: { req: 0, h5: 0 }, [GREEN]: { req: 0, h5: 0 } };
  /** Requests through the backend between two `show stat` calls. */
  perCall = 200;
  errorRate: Record<string, number> = { [BLUE]: 0, [GREEN]: 0 };
  constructor(private readonly events: string[]) {}

  async setWeights(changes: Array<{ backend: string; server: string; weight: number }>): Promise<void> {
    for (const c of changes) this.weights[c.server] = c.weight;
    this.events.push(`haproxy weights ${this.weights[BLUE]}/${this.weights[GREEN]}`);
  }
  async setState(_b: string, server: string, state: 'ready' | 'drain' | 'maint'): Promise<void> {
    this.admin[server] = state;
    this.events.push(`haproxy ${server} ${state}`);
  }
  private status(server: string): string {
    if (this.admin[server] === 'maint') return 'MAINT';
    if (this.down.has(server)) return 'DOWN';
    return this.admin[server] === 'drain' ? 'DRAIN' : 'UP';
  }
  async showStat(): Promise<ServerStat[]> {
    const total = this.weights[BLUE] + this.weights[GREEN];
    return [BLUE, GREEN].map((server) => {
      const c = this.counters[server];
      const n = total > 0 && this.admin[server] === 'ready' ? Math.round((this.perCall * this.weights[server]) / total) : 0;
      c.req += n;
      c.h5 += Math.round(n * this.errorRate[server]);
      return { backend: BACKEND, server, status: this.status(server), weight: this.weights[server], scur: 0, reqTot: c.req, hrsp5xx: c.h5, hrspOther: 0, econ: 0, eresp: 0, rtime: 5, ttime: 6, checkStatus: 'L7OK', lastChk: '' };
    });
  }
  async showServersState(): Promise<ServerState[]> {
    return [BLUE, GREEN].map((server, i) => ({
      backendId: 3,
      backend: BACKEND,
      server,
      address: '127.0.0.1',
      port: 8080 + i * 100,
      opState: 2,
      adminState: this.admin[server] === 'maint' ? 1 : this.admin[server] === 'drain' ? 8 : 0,
      weight: this.weights[server],
      initialWeight: i === 0 ? 100 : 0,
    }));
  }
}

function memoryStore(events: string[]) {
  let state: TeamEnvironmentState = { team: 'devops', active: 'blue', previous: null, weights: { blue: 100, green: 0 }, lastKnownGood: 'blue', updatedAt: new Date(0) };
  const steps: Array<{ seq: number; name: string; intent: Record<string, unknown>; outcome: string; result: unknown }> = [];
  const failures: string[] = [];
  const audit: Array<Record<string, unknown>> = [];
  const store = {
    locks: {
      assertHeld: async (r: { token: number }) => {
        if (r.token !== 7) throw Object.assign(new Error('fenced'), { code: 'FENCED' });
        return { lockName: 'devops:blue_green_switch', token: 7, expiresAt: new Date(8.64e15), holder: 'b' };
      },
      list: async () => [],
    },
    breakers: {
      admit: async () => ({ trial: false }),
      recordSuccess: async () => undefined,
      recordFailure: async (_n: string, reason: string) => void failures.push(reason),
    },
    environments: {
      ensure: async () => state,
      get: async () => state,
      setDesiredWeights: async (_t: string, w: { blue: number; green: number }) => {
        state = { ...state, weights: w };
        events.push(`desired ${w.blue}/${w.green}`);
      },
      promote: async (_t: string, target: 'blue' | 'green') => {
        state = { ...state, previous: state.active, active: target, lastKnownGood: target, weights: target === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 } };
        events.push(`promote ${target}`);
        return state;
      },
    },
    journal: {
      intent: async (_op: string, name: string, intent: Record<string, unknown>) => {
        steps.push({ seq: steps.length + 1, name, intent, outcome: 'pending', result: null });
        events.push(`intent ${name}`);
        return steps.length;
      },
      outcome: async (_op: string, seq: number, outcome: string, result?: unknown) => {
        steps[seq - 1].outcome = outcome;
        steps[seq - 1].result = result ?? null;
        events.push(`outcome ${steps[seq - 1].name} ${outcome}`);
      },
    },
    audit: { record: async (e: Record<string, unknown>) => String(audit.push(e)) },
  };
  return { store: store as unknown as TrafficDeps['store'], steps, failures, audit, state: () => state };
}

function harness(overrides: Record<string, unknown> = {}, opts: SwitchOptions = {}) {
  const events: string[] = [];
  const haproxy = new ScriptedHaproxy(events);
  const mem = memoryStore(events);
  let now = 0;
  const progress: Array<{ phase: string; message: string }> = [];
  const inFlight = new InFlightSwitches();
  const onProgress: Array<(e: { phase: string; message: string }) => void> = [];
  const ctx: OperationContext = {
    operation: { id: 'op-1' } as OperationRecord,
    actor: { tokenId: 'ops', instanceId: 'unit' },
    signal: new AbortController().signal,
    clock: { now: () => new Date(now) },
    progress: (e) => {
      progress.push(e);
      for (const f of onProgress) f(e);
    },
  };
  // Fake time: a sleep advances the clock and yields once, so other promises (an emergency halt) run.
  const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    if (!signal?.aborted) now += ms;
    await new Promise((r) => setImmediate(r));
  };
  const hooks: Array<{ event: string; payload: Record<string, unknown> }> = [];
  const webhooks = { notify: async (_team: string, event: string, payload: Record<string, unknown>) => void hooks.push({ event, payload }) };
  const deps = trafficDeps({ store: mem.store, haproxy, inFlight, sleep, webhooks });
  const params = trafficSwitchParams.parse({ team: 'devops', target: 'green', lockToken: 7, validationSec: 2, minSamples: 20, ...overrides });
  return { events, haproxy, mem, progress, onProgress, inFlight, hooks, run: () => runTrafficSwitch(deps, params, ctx, opts), elapsed: () => now };
}

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; data: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string; data: Record<string, unknown> };
  }
  throw new Error('expected a failure');
}

describe('switch state machine', () => {
  it('walks 5→100 with each weight change journaled before and after it is applied, drains, maints and promotes', async () => {
    const h = harness();
    const result = await h.run();
    expect(result.status).toBe('promoted');
    expect(result.steps.map((s) => [s.percent, s.verdict])).toEqual([
      [5, 'pass'],
      [10, 'pass'],
      [25, 'pass'],
      [50, 'pass'],
      [100, 'pass'],
    ]);
    const changes = h.events.filter((e) => e.startsWith('haproxy'));
    expect(changes).toEqual(['haproxy weights 95/5', 'haproxy weights 90/10', 'haproxy weights 75/25', 'haproxy weights 50/50', 'haproxy weights 0/100', `haproxy ${BLUE} drain`, `haproxy ${BLUE} maint`]);
    // intent → desired in Postgres → HAProxy → outcome, for every step.
    for (const w of ['95/5', '90/10', '75/25', '50/50', '0/100']) {
      const at = h.events.indexOf(`haproxy weights ${w}`);
      expect(h.events.slice(at - 2, at + 2)).toEqual(['intent weights', `desired ${w}`, `haproxy weights ${w}`, 'outcome weights done']);
    }
    expect(h.events.indexOf('promote green')).toBeGreaterThan(h.events.indexOf(`haproxy ${BLUE} maint`));
    expect(h.mem.state()).toMatchObject({ active: 'green', previous: 'blue', lastKnownGood: 'green' });
    // Five 2 s windows of fake time, no more.
    expect(h.elapsed()).toBeGreaterThanOrEqual(10_000);
    expect(h.elapsed()).toBeLessThan(11_000);
  });

  it('rolls back at once on an error-rate breach, with the figures, and counts a breaker failure', async () => {
    const h = harness();
    h.onProgress.push((e) => {
      if (e.phase === 'step-25') h.haproxy.errorRate[GREEN] = 0.3;
    });
    const err = await failure(h.run());
    expect(err.code).toBe('SLI_BREACH');
    expect(err.data).toMatchObject({ operationStatus: 'rolled_back', step: 25, active: 'blue' });
    expect(err.data.errorRate as number).toBeGreaterThan(25);
    expect(h.events.filter((e) => e.startsWith('haproxy')).slice(-1)).toEqual(['haproxy weights 100/0']);
    expect(h.events).not.toContain('haproxy weights 50/50');
    expect(h.mem.failures).toHaveLength(1);
    expect(h.mem.audit.at(-1)).toMatchObject({ status: 'rolled_back' });
  });

  it('never lowers the old side while the target is not UP: rolls back instead of taking the next step', async () => {
    const h = harness();
    h.onProgress.push((e) => {
      if (/^5% validated/.test(e.message)) h.haproxy.down.add(GREEN);
    });
    const err = await failure(h.run());
    expect(err.code).toBe('SLI_BREACH');
    expect(err.message).toMatch(/is DOWN before the 10% step/);
    expect(h.events).not.toContain('haproxy weights 90/10');
    expect(h.haproxy.weights).toEqual({ [BLUE]: 100, [GREEN]: 0 });
  });

  it('extends a thin window, holds when told to, says so, then rolls back at the bound', async () => {
    const h = harness({ onInsufficientSamples: 'hold', maxWindowSec: 4, holdSec: 6 });
    h.haproxy.perCall = 0; // no traffic at all
    const err = await failure(h.run());
    expect(err.code).toBe('TIMEOUT');
    expect(h.progress.map((p) => p.message).filter((m) => /extending|holding/.test(m))).toEqual([
      expect.stringMatching(/saw only 0 of 20 requests needed; extending up to 4s/),
      expect.stringMatching(/holding at 5%: 0 of 20 requests; waiting up to 6s more/),
    ]);
    expect(h.elapsed()).toBeGreaterThanOrEqual(10_000);
    expect(h.haproxy.weights).toEqual({ [BLUE]: 100, [GREEN]: 0 });
  });

  it('stops without touching weights again when halted by an emergency stop', async () => {
    const h = harness();
    let halted: Promise<string | null> | undefined;
    h.onProgress.push((e) => {
      if (e.phase === 'step-10' && !halted) halted = h.inFlight.halt('devops', 'operator stop');
    });
    const err = await failure(h.run());
    expect(err.code).toBe('CONFLICT');
    expect(err).toMatchObject({ reason: 'halted', outcome: 'aborted' });
    expect(err.data.operationStatus).toBe('aborted');
    expect(await halted).toBe('op-1');
    expect(h.events.filter((e) => e.startsWith('haproxy')).at(-1)).toBe('haproxy weights 90/10');
  });

  it('refuses a stale fencing token before anything happens', async () => {
    const h = harness({ lockToken: 6 });
    const err = await failure(h.run());
    expect(err.code).toBe('FENCED');
    expect(h.events).toEqual([]);
  });
});

/**
 * A person's say through SwitchControls, with `act` run at every checkpoint (the fake clock's
 * time in ms since the switch began) so a test can pause, resume, promote or abort at a moment.
 */
function steered(act: (controls: SwitchControls, nowMs: number) => void, clock: () => number): SwitchControl {
  // As the sidecar wires it: a hold that names no limit (an approval gate's) gets the team's max pause.
  const controls = new SwitchControls({ maxPauseSec: () => 3_600 });
  const inner = controls.attach('devops', 'op-1');
  return {
    checkpoint: (run, where) => {
      act(controls, clock());
      return inner.checkpoint(run, where);
    },
    awaitApproval: (hold) => inner.awaitApproval(hold),
    release: () => inner.release(),
  };
}

describe('a person in the loop', () => {
  const person = { by: 'alice', reason: 'watching the build queue' };
  const weightChanges = (events: string[]): string[] => events.filter((e) => e.startsWith('haproxy weights'));

  it('a switch paused at 25% holds its weights for longer than its windows, then resumes and promotes', async () => {
    let pausedAt: number | null = null;
    let clock = (): number => 0;
    const h = harness({}, { control: steered((c, now) => {
      const state = c.get('devops')?.state.kind;
      if (pausedAt === null && h.progress.some((p) => p.phase === 'step-25')) {
        c.command('devops', { verb: 'pause', at: new Date(now), ...person });
        pausedAt = now;
      } else if (pausedAt !== null && state === 'paused' && now - pausedAt > 7_000) c.command('devops', { verb: 'resume', ...person });
    }, () => clock()) });
    clock = h.elapsed;
    const result = await h.run();
    expect(result.status).toBe('promoted');
    expect(result.steps.map((s) => s.percent)).toEqual([5, 10, 25, 50, 100]);
    const paused = h.progress.find((p) => p.phase === 'paused');
    expect(paused?.message).toMatch(/paused at 25% by alice/);
    // Held at 75/25 from the pause until the resume, more than three 2 s windows: no weight change in between.
    const at = h.progress.indexOf(paused!);
    expect(h.progress.slice(at).find((p) => /resumed at 25%/.test(p.message))).toBeDefined();
    // The 25% window lasted the pause (over 7 s of fake time against 2 s windows); the others 2 s each.
    expect(result.steps[2].windowSec).toBeGreaterThanOrEqual(7);
    expect(h.elapsed()).toBeGreaterThanOrEqual(8_000 + 7_000);
    expect(weightChanges(h.events)).toEqual(['haproxy weights 95/5', 'haproxy weights 90/10', 'haproxy weights 75/25', 'haproxy weights 50/50', 'haproxy weights 0/100']);
    // The step webhook hears of the hold and its end.
    expect(h.hooks.filter((x) => x.event === 'paused' || x.event === 'resumed')).toEqual([
      { event: 'paused', payload: expect.objectContaining({ operationId: 'op-1', percent: 25, weights: { blue: 75, green: 25 }, by: 'alice', reason: 'watching the build queue' }) },
      { event: 'resumed', payload: expect.objectContaining({ operationId: 'op-1', percent: 25, how: 'resumed' }) },
    ]);
  });

  it('a breach while paused still rolls back', async () => {
    const h = harness({}, { control: steered((c, now) => {
      if (c.get('devops')?.state.kind === 'running' && h.progress.some((p) => p.phase === 'step-25')) {
        c.command('devops', { verb: 'pause', at: new Date(now), ...person });
        h.haproxy.errorRate[GREEN] = 0.4;
      }
    }, () => h.elapsed()) });
    const err = await failure(h.run());
    expect(err.code).toBe('SLI_BREACH');
    expect(err.data).toMatchObject({ operationStatus: 'rolled_back', step: 25, active: 'blue' });
    expect(h.progress.some((p) => p.phase === 'paused')).toBe(true);
    expect(weightChanges(h.events).at(-1)).toBe('haproxy weights 100/0');
  });

  it('promote --full from 10% ends that window as a pass and goes straight to 100% with the drain', async () => {
    let asked = false;
    const h = harness({}, { control: steered((c) => {
      if (!asked && h.progress.some((p) => p.phase === 'step-10')) {
        c.command('devops', { verb: 'promote', full: true, ...person });
        asked = true;
      }
    }, () => h.elapsed()) });
    const result = await h.run();
    expect(result.status).toBe('promoted');
    expect(result.steps.map((s) => [s.percent, s.verdict])).toEqual([
      [5, 'pass'],
      [10, 'pass'],
      [100, 'pass'],
    ]);
    expect(weightChanges(h.events)).toEqual(['haproxy weights 95/5', 'haproxy weights 90/10', 'haproxy weights 0/100']);
    expect(h.events).toContain(`haproxy ${BLUE} maint`);
    expect(h.progress.some((p) => /window at 10% ended early as a pass: promoted by alice/.test(p.message))).toBe(true);
  });

  it('abort --hold leaves the weights where they were and ends the operation aborted', async () => {
    const h = harness({}, { control: steered((c) => {
      if (c.get('devops')?.state.kind === 'running' && h.progress.some((p) => p.phase === 'step-25')) c.command('devops', { verb: 'abort', hold: true, ...person });
    }, () => h.elapsed()) });
    const err = await failure(h.run());
    expect(err.code).toBe('CONFLICT');
    expect(err.data).toMatchObject({ operationStatus: 'aborted', weights: { blue: 75, green: 25 } });
    expect(weightChanges(h.events).at(-1)).toBe('haproxy weights 75/25');
    expect(h.mem.audit.at(-1)).toMatchObject({ status: 'aborted', initiatedBy: 'alice' });
    expect(h.mem.failures).toEqual([]);
  });

  it('abort without hold rolls back without counting a breaker failure', async () => {
    const h = harness({}, { control: steered((c) => {
      if (c.get('devops')?.state.kind === 'running' && h.progress.some((p) => p.phase === 'step-10')) c.command('devops', { verb: 'abort', hold: false, ...person });
    }, () => h.elapsed()) });
    const err = await failure(h.run());
    expect(err.code).toBe('CONFLICT');
    expect(err.data).toMatchObject({ operationStatus: 'rolled_back', step: 10, active: 'blue' });
    expect(err.message).toMatch(/aborted by alice: watching the build queue/);
    expect(weightChanges(h.events).at(-1)).toBe('haproxy weights 100/0');
    expect(h.mem.failures).toEqual([]);
  });
});

describe('a held switch and the clock', () => {
  const person = { by: 'bob', reason: 'checking the dashboards' };
  const weightChanges = (events: string[]): string[] => events.filter((e) => e.startsWith('haproxy weights'));

  it('a pause nobody resumes within max_pause_sec rolls back with that reason, audited, without a breaker failure', async () => {
    const h = harness({}, { control: steered((c, now) => {
      if (c.get('devops')?.state.kind === 'running' && h.progress.some((p) => p.phase === 'step-25')) c.command('devops', { verb: 'pause', at: new Date(now), maxPauseSec: 5, ...person });
    }, () => h.elapsed()) });
    const err = await failure(h.run());
    expect(err.code).toBe('TIMEOUT');
    expect(err.data).toMatchObject({ operationStatus: 'rolled_back', step: 25, active: 'blue' });
    expect(err.message).toMatch(/paused 5 s without a resume \(max_pause_sec\); paused by bob: checking the dashboards/);
    expect(h.progress.find((p) => p.phase === 'rolled-back')?.message).toMatch(/paused 5 s without a resume/);
    expect(h.mem.audit.at(-1)).toMatchObject({ status: 'rolled_back', rollbackReason: expect.stringMatching(/^paused 5 s without a resume/) });
    expect(h.mem.failures).toEqual([]);
    expect(weightChanges(h.events)).toEqual(['haproxy weights 95/5', 'haproxy weights 90/10', 'haproxy weights 75/25', 'haproxy weights 100/0']);
  });

  it('a pause before the first move that expires ends the switch without moving anything', async () => {
    const h = harness({}, { control: steered((c, now) => {
      if (c.get('devops')?.state.kind === 'running' && !h.progress.some((p) => p.phase === 'paused')) c.command('devops', { verb: 'pause', at: new Date(now), maxPauseSec: 3, ...person });
    }, () => h.elapsed()) });
    const err = await failure(h.run());
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toMatch(/ended before its first step: paused 3 s without a resume \(max_pause_sec\).*nothing was moved/);
    expect(weightChanges(h.events)).toEqual([]);
  });

  it('held before a step (after 25% passed), the target is still judged: a breach rolls back before the next move', async () => {
    const paused: string[] = [];
    const controls = new SwitchControls();
    const inner = controls.attach('devops', 'op-1');
    const control: SwitchControl = {
      checkpoint: (run, where) => {
        if (where === 'step' && paused.length === 0 && h.progress.some((p) => /^25% validated/.test(p.message))) {
          controls.command('devops', { verb: 'pause', at: new Date(h.elapsed()), ...person });
          paused.push(where);
        } else if (paused.length === 1 && h.elapsed() > 20_000) {
          h.haproxy.errorRate[GREEN] = 0.5;
          paused.push('breach');
        }
        return inner.checkpoint(run, where);
      },
      awaitApproval: (hold) => inner.awaitApproval(hold),
      release: () => inner.release(),
    };
    const h = harness({}, { control });
    const err = await failure(h.run());
    expect(err.code).toBe('SLI_BREACH');
    expect(err.message).toMatch(/SLI breach at 25% while paused by bob: error_rate/);
    expect(err.data).toMatchObject({ operationStatus: 'rolled_back', step: 25, active: 'blue' });
    expect(h.progress.find((p) => p.phase === 'paused')?.message).toMatch(/^paused at 25% by bob/);
    // Never moved to 50% while held; straight back to the source on the breach.
    expect(weightChanges(h.events)).toEqual(['haproxy weights 95/5', 'haproxy weights 90/10', 'haproxy weights 75/25', 'haproxy weights 100/0']);
    expect(h.mem.failures).toHaveLength(1);
  });

  it('on resume an interrupted window gets back the time it had left and is judged over all its samples', async () => {
    const starts: number[] = [];
    let pausedAt: number | null = null;
    let resumedAt: number | null = null;
    const h = harness({ validationSec: 4 }, { control: steered((c, now) => {
      const start25 = starts[0];
      if (pausedAt === null && start25 !== undefined) {
        // A second into the 4 s window.
        if (now - start25 >= 1_000) {
          c.command('devops', { verb: 'pause', at: new Date(now), ...person });
          pausedAt = now;
        }
      } else if (pausedAt !== null && resumedAt === null && now - pausedAt >= 10_000) {
        c.command('devops', { verb: 'resume', ...person });
        resumedAt = now;
      }
    }, () => h.elapsed()) });
    h.onProgress.push((e) => {
      if (/^25% of new/.test(e.message)) starts.push(h.elapsed());
    });
    const result = await h.run();
    expect(result.status).toBe('promoted');
    const w25 = result.steps[2];
    // 1 s before the pause + 10 s held + the 3 s it had left, a sample a second, every one judged.
    expect(w25.windowSec).toBeGreaterThanOrEqual(14);
    expect(w25.windowSec).toBeLessThan(15.5);
    expect(w25.samples).toBeGreaterThanOrEqual(15);
  });
});

describe('approval gates', () => {
  const person = { by: 'alice', reason: 'looks fine at 25%' };
  const weightChanges = (events: string[]): string[] => events.filter((e) => e.startsWith('haproxy weights'));

  it('holds before the gated step at the previous weights until resumed, journaled as the gate’s own pause', async () => {
    let gateAt: number | null = null;
    const h = harness({ approvalAt: [50] }, { control: steered((c, now) => {
      if (gateAt === null && h.progress.some((p) => p.phase === 'awaiting_approval')) gateAt = now;
      else if (gateAt !== null && c.get('devops')?.state.kind === 'paused' && now - gateAt > 7_000) c.command('devops', { verb: 'resume', ...person });
    }, () => h.elapsed()) });
    const result = await h.run();
    expect(result.status).toBe('promoted');
    const waiting = h.progress.find((p) => p.phase === 'awaiting_approval') as unknown as Record<string, unknown>;
    expect(waiting).toMatchObject({ step: 50, gate: 50, weights: { blue: 75, green: 25 }, approve: { rpc: 'traffic.resume' } });
    expect(h.mem.steps.filter((s) => s.name === 'control').map((s) => s.intent)).toEqual([expect.objectContaining({ verb: 'pause', by: 'approval gate', gate: 50, maxPauseSec: 3600 })]);
    // Nothing moved while it waited: the 50% step came only after the resume, 7 s of fake time later.
    expect(weightChanges(h.events)).toEqual(['haproxy weights 95/5', 'haproxy weights 90/10', 'haproxy weights 75/25', 'haproxy weights 50/50', 'haproxy weights 0/100']);
    expect(h.elapsed()).toBeGreaterThanOrEqual(5 * 2_000 + 7_000);
    expect(h.progress.some((p) => /approval gate before the 50% step passed: resumed/.test(p.message))).toBe(true);
  });

  it('a breach of the held traffic while waiting at the gate rolls back', async () => {
    const h = harness({ approvalAt: [50] }, { control: steered(() => {
      if (h.progress.some((p) => p.phase === 'awaiting_approval')) h.haproxy.errorRate[GREEN] = 0.4;
    }, () => h.elapsed()) });
    const err = await failure(h.run());
    expect(err.code).toBe('SLI_BREACH');
    expect(err.message).toMatch(/while waiting at the approval gate of the 50% step/);
    expect(err.data).toMatchObject({ step: 25, active: 'blue' });
    expect(weightChanges(h.events).at(-1)).toBe('haproxy weights 100/0');
  });

  it("a gate nobody answers rolls back after the team's max pause (3600 s)", async () => {
    const h = harness({ approvalAt: [50] }, { control: steered(() => undefined, () => 0) });
    const err = await failure(h.run());
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toMatch(/waited 3600 s at the approval gate for 50% without a resume \(max_pause_sec\)/);
    expect(err.data).toMatchObject({ step: 25, active: 'blue' });
    expect(h.elapsed()).toBeGreaterThanOrEqual(3 * 2_000 + 3_600_000);
    expect(weightChanges(h.events).at(-1)).toBe('haproxy weights 100/0');
  });

  it('a full promotion asked for before the gate passes it', async () => {
    const h = harness({ approvalAt: [50] }, { control: steered((c) => {
      if (c.get('devops')?.state.kind === 'running' && h.progress.some((p) => p.phase === 'step-10')) c.command('devops', { verb: 'promote', full: true, ...person });
    }, () => h.elapsed()) });
    const result = await h.run();
    expect(result.status).toBe('promoted');
    expect(h.progress.some((p) => p.phase === 'awaiting_approval')).toBe(false);
    expect(weightChanges(h.events)).toEqual(['haproxy weights 95/5', 'haproxy weights 90/10', 'haproxy weights 0/100']);
  });
});

import { emergencyStopNote } from '../../agent/src/cli/emergency-stop-note';
import { isSidecarError } from '../../agent/src/sidecar-error';
import type { EnvironmentStateStore, TeamEnvironmentState } from '../../agent/src/store/contract';
import { DeferredWrites } from '../../agent/src/traffic/deferred-writes';
import { chooseEmergencyTarget } from '../../agent/src/traffic/emergency';
import { LastReadEnvironments } from '../../agent/src/traffic/last-read-state';

/** rollback.emergency while PostgreSQL is unreachable: the pure parts (target choice, last-read cache, owed-write order, CLI note). */

const state = (team: string, active: 'blue' | 'green', lastKnownGood: 'blue' | 'green'): TeamEnvironmentState => ({
  team,
  active,
  previous: null,
  weights: active === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 },
  lastKnownGood,
  updatedAt: new Date(0),
});

describe('chooseEmergencyTarget', () => {
  it("takes the caller's target over the last known good side", () => {
    expect(chooseEmergencyTarget('alpha', 'green', state('alpha', 'blue', 'blue'))).toBe('green');
    expect(chooseEmergencyTarget('alpha', 'blue', undefined)).toBe('blue');
  });

  it('else the last known good side as last read', () => {
    expect(chooseEmergencyTarget('alpha', undefined, state('alpha', 'green', 'blue'))).toBe('blue');
  });

  it('refuses with DEPENDENCY_DOWN saying to pass a target when the team was never read', () => {
    let thrown: unknown;
    try {
      chooseEmergencyTarget('alpha', undefined, undefined);
    } catch (err) {
      thrown = err;
    }
    expect(isSidecarError(thrown) && thrown.code).toBe('DEPENDENCY_DOWN');
    expect((thrown as Error).message).toMatch(/target=blue or target=green/);
    expect((thrown as Error).message).toMatch(/nothing was changed/);
  });
});

describe('LastReadEnvironments', () => {
  it('keeps the last state read per team, as a copy', () => {
    const c = new LastReadEnvironments();
    c.remember([state('alpha', 'blue', 'blue'), state('beta', 'green', 'green')]);
    c.remember([state('alpha', 'green', 'green')]);
    const a = c.get('alpha')!;
    expect(a).toMatchObject({ active: 'green', lastKnownGood: 'green' });
    a.weights.blue = 42;
    expect(c.get('alpha')!.weights.blue).toBe(0);
    expect(c.get('beta')?.lastKnownGood).toBe('green');
    expect(c.get('gamma')).toBeUndefined();
  });

  it('does not refresh a team whose rows in Postgres are behind (writes owed); the emergency move is noted instead', () => {
    const owed = new Set<string>();
    const c = new LastReadEnvironments((t) => owed.has(t));
    c.remember([state('alpha', 'green', 'green')]);
    owed.add('alpha');
    c.noteEmergencyMove('alpha', 'blue', new Date(1));
    c.remember([state('alpha', 'green', 'green')]); // the stale row, read before the owed writes landed
    expect(c.get('alpha')).toMatchObject({ active: 'blue', previous: 'green', lastKnownGood: 'blue', weights: { blue: 100, green: 0 } });
    owed.delete('alpha');
    c.remember([state('alpha', 'blue', 'blue')]);
    expect(c.get('alpha')?.active).toBe('blue');
  });

  it('watch() remembers what the store answers (ensure, get, promote, list) and passes writes through', async () => {
    const rows = new Map<string, TeamEnvironmentState>([['alpha', state('alpha', 'blue', 'blue')]]);
    const desired: string[] = [];
    const store: EnvironmentStateStore = {
      ensure: async (team) => rows.get(team)!,
      get: async (team) => rows.get(team) ?? null,
      setDesiredWeights: async (team, w) => void desired.push(`${team} ${w.blue}/${w.green}`),
      promote: async (team, target) => {
        rows.set(team, state(team, target, target));
        return rows.get(team)!;
      },
      recordHealth: async () => undefined,
      list: async () => [...rows.values()],
    };
    const c = new LastReadEnvironments();
    const watched = c.watch(store);
    expect(c.get('alpha')).toBeUndefined();
    await watched.get('alpha');
    expect(c.get('alpha')?.active).toBe('blue');
    await watched.promote('alpha', 'green');
    expect(c.get('alpha')).toMatchObject({ active: 'green', lastKnownGood: 'green' });
    await watched.setDesiredWeights('alpha', { blue: 50, green: 50 });
    expect(desired).toEqual(['alpha 50/50']);
    expect(await watched.get('nobody')).toBeNull();
    rows.set('beta', state('beta', 'green', 'blue'));
    await watched.list();
    expect(c.get('beta')?.lastKnownGood).toBe('blue');
  });
});

describe('DeferredWrites: the owed records of an operation run without the journal', () => {
  it('runs them in the order queued, behind the weights, retrying each until Postgres answers', async () => {
    const calls: string[] = [];
    let down = 2;
    const gate = (what: string): void => {
      if (down > 0) {
        down -= 1;
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      }
      calls.push(what);
    };
    const dw = new DeferredWrites({
      journal: {
        intent: async (_op, name) => (gate(`intent ${name}`), 1),
        outcome: async (_op, seq) => gate(`outcome ${seq}`),
        finish: async (_op, status) => gate(`finish ${status}`),
        get: async () => null,
        begin: async (req) => (gate(`row ${req.id}`), { operation: {} as never, created: true }),
      },
      environments: {
        setDesiredWeights: async (team) => gate(`desired ${team}`),
        ensure: async (team) => (gate(`ensure ${team}`), { team, active: 'green', previous: null, lastKnownGood: 'green', weights: { blue: 0, green: 100 } } as never),
        promote: async (_team, target) => (gate(`promote ${target}`), {} as never),
      },
      audit: { record: async (e) => (gate(`audit ${e.operationType} ${e.id ? 'with id' : 'no id'}`), e.id ?? '') },
      sleep: async () => undefined,
    });
    dw.beginOperation('alpha', { id: 'op1', type: 'rollback.emergency', params: {}, actor: { tokenId: 'ops', instanceId: 'sc1' }, startedAt: new Date() });
    dw.weights({ team: 'alpha', opId: 'op1', weights: { blue: 100, green: 0 }, step: { name: 'emergency-weights', intent: {} }, desiredWritten: false, result: {} });
    dw.promote('alpha', 'blue', 'blue');
    dw.audit('alpha', { operationType: 'rollback.emergency', team: 'alpha', initiatedBy: 'ops', status: 'completed', operationId: 'op1', completedAt: new Date() });
    dw.finish('alpha', 'op1', 'succeeded', null, { active: 'blue' });
    expect(dw.pending('alpha')).toBe(true);
    await dw.settled();
    expect(dw.pending('alpha')).toBe(false);
    expect(calls).toEqual(['row op1', 'desired alpha', 'intent emergency-weights', 'outcome 1', 'ensure alpha', 'promote blue', 'audit rollback.emergency with id', 'finish succeeded']);
  });
});

describe('sidecarctl emergency-stop note', () => {
  it('says the records are owed when the sidecar answered recordsDeferred', () => {
    const note = emergencyStopNote({ active: 'blue', operationId: 'a1b2', recordsDeferred: true });
    expect(note).toMatch(/PostgreSQL was unreachable/);
    expect(note).toMatch(/All traffic is on blue/);
    expect(note).toMatch(/operation a1b2/);
  });

  it('says nothing for a rollback that wrote its records', () => {
    expect(emergencyStopNote({ active: 'blue', recordsDeferred: false })).toBeNull();
    expect(emergencyStopNote({ active: 'blue' })).toBeNull();
    expect(emergencyStopNote(null)).toBeNull();
  });
});

import { DeferredWrites } from '../../agent/src/traffic/deferred-writes';

/** The queue of records owed after a safety move: order, retry until Postgres answers, bounded give-up. */
function fakeStore(failFirst: number) {
  const calls: string[] = [];
  let failures = failFirst;
  const gate = (what: string): void => {
    if (failures > 0) {
      failures -= 1;
      calls.push(`fail ${what}`);
      throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    }
    calls.push(what);
  };
  return {
    calls,
    journal: {
      intent: async (_op: string, name: string) => (gate(`intent ${name}`), 7),
      outcome: async (_op: string, seq: number, outcome: string) => gate(`outcome ${seq} ${outcome}`),
      finish: async (_op: string, status: string) => gate(`finish ${status}`),
    },
    environments: { setDesiredWeights: async (team: string, w: { blue: number; green: number }) => gate(`desired ${team} ${w.blue}/${w.green}`) },
  };
}

const noWait = async (): Promise<void> => undefined;

it('writes the desired weights, the journal step and then the end, retrying while Postgres is away; the team is pending until then', async () => {
  const store = fakeStore(3);
  const dw = new DeferredWrites({ ...store, sleep: noWait });
  dw.weights({ team: 'alpha', opId: 'op1', weights: { blue: 100, green: 0 }, step: { name: 'rollback', intent: {} }, desiredWritten: false, result: { deferred: true } });
  dw.finish('alpha', 'op1', 'rolled_back', { code: 'DEPENDENCY_DOWN', message: 'x' });
  expect(dw.pending('alpha')).toBe(true);
  expect(dw.pending('beta')).toBe(false);
  await dw.settled();
  expect(dw.pending('alpha')).toBe(false);
  expect(store.calls.filter((c) => !c.startsWith('fail'))).toEqual(['desired alpha 100/0', 'intent rollback', 'outcome 7 done', 'finish rolled_back']);
  expect(store.calls.slice(0, 3)).toEqual(['fail desired alpha 100/0', 'fail desired alpha 100/0', 'fail desired alpha 100/0']);
});

it('does not write the desired weights or the intent again when they were already written', async () => {
  const store = fakeStore(0);
  const dw = new DeferredWrites({ ...store, sleep: noWait });
  dw.weights({ team: 'alpha', opId: 'op1', weights: { blue: 0, green: 100 }, step: { seq: 3 }, desiredWritten: true, result: {} });
  await dw.settled();
  expect(store.calls).toEqual(['outcome 3 done']);
});

it('gives up after maxAttempts and releases the team (recovery at restart finishes the operation)', async () => {
  const store = fakeStore(1000);
  const warnings: string[] = [];
  const dw = new DeferredWrites({ ...store, sleep: noWait, maxAttempts: 4, log: { info: () => undefined, warn: (m) => warnings.push(m) } });
  dw.finish('alpha', 'op1', 'rolled_back', null);
  await dw.settled();
  expect(store.calls).toHaveLength(4);
  expect(dw.pending('alpha')).toBe(false);
  expect(warnings.some((w) => w.startsWith('gave up'))).toBe(true);
});

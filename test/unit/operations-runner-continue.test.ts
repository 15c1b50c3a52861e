import { OperationRunner } from '../../agent/src/operations/runner';
import type { OperationJournal, OperationRecord } from '../../agent/src/store/contract';

/**
 * The runner continuing an operation already in the journal (a switch recovery found paused):
 * only a running one owned by this instance, once; its end is finished as a normal run's, and
 * attach() follows it through the bus while it runs. The journal is a fake: the runner's own logic.
 */
const actor = { tokenId: 'recovery', instanceId: 'sc1' };

function fakeJournal() {
  const calls: string[] = [];
  const journal = {
    begin: async () => {
      throw new Error('continuing must not begin a new row');
    },
    intent: async () => 1,
    outcome: async () => undefined,
    phase: async (id: string, phase: string) => void calls.push(`phase ${id} ${phase}`),
    finish: async (id: string, status: string) => void calls.push(`finish ${id} ${status}`),
    get: async () => null,
    unfinished: async () => [],
    list: async () => [],
  } as unknown as OperationJournal;
  return { journal, calls };
}

const row = (over: Partial<OperationRecord> = {}): OperationRecord =>
  ({ id: 'op-1', type: 'traffic.switch', team: 'alpha', status: 'running', phase: 'paused', ownerInstance: 'sc1', initiatedBy: 'token ops', idempotencyKey: null, params: {}, result: null, error: null, startedAt: new Date(), completedAt: null, steps: [], ...over }) as OperationRecord;

it('runs the body under the existing row, which attach follows and the end finishes', async () => {
  const { journal, calls } = fakeJournal();
  const runner = new OperationRunner({ journal, clock: { now: () => new Date() } });
  let go: () => void = () => undefined;
  const gate = new Promise<void>((r) => (go = r));
  runner.continueOwned(row(), actor, async (ctx) => {
    ctx.progress({ phase: 'step-25', message: 'resumed' });
    await gate;
    return { status: 'promoted' };
  });
  expect(runner.inFlight()).toBe(1);
  const seen: string[] = [];
  const followed = runner.attach('op-1', (e) => seen.push(String(e.phase)));
  go();
  await expect(followed).resolves.toEqual({ status: 'promoted' });
  expect(calls).toEqual(['phase op-1 step-25', 'finish op-1 succeeded']);
  expect(runner.inFlight()).toBe(0);
});

it('refuses an operation that ended, belongs to another sidecar, or already runs here', () => {
  const { journal } = fakeJournal();
  const runner = new OperationRunner({ journal, clock: { now: () => new Date() } });
  const body = (): Promise<never> => new Promise<never>(() => undefined);
  expect(() => runner.continueOwned(row({ status: 'rolled_back' }), actor, body)).toThrow('only a running operation of this sidecar');
  expect(() => runner.continueOwned(row({ ownerInstance: 'sc2' }), actor, body)).toThrow('owned by sc2');
  runner.continueOwned(row(), actor, body);
  expect(() => runner.continueOwned(row(), actor, body)).toThrow('already runs in this process');
  runner.abortAll('test over');
  expect(() => runner.continueOwned(row({ id: 'op-2' }), actor, body)).toThrow('shutting down');
});

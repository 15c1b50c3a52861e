import { OperationRunner, type WithoutJournal } from '../../agent/src/operations/runner';
import type { OperationJournal, OperationRecord } from '../../agent/src/store/contract';

/**
 * The runner's path for an operation that is safe without the journal (the
 * emergency stop): it runs when `journal.begin` fails as unreachable, or when
 * it has not answered within `beginWithinMs` (a partition answers nothing),
 * under the id it chose first, so a row that lands late is the same operation.
 * The journal here is a fake: this is the runner's own logic.
 */
const actor = { tokenId: 'ops', instanceId: 'sc1' };

function fakeJournal(begin: OperationJournal['begin']) {
  const calls: string[] = [];
  const journal = {
    begin,
    intent: async () => 1,
    outcome: async () => undefined,
    phase: async () => undefined,
    finish: async (id: string, status: string) => {
      calls.push(`finish ${id} ${status}`);
    },
    get: async () => null,
    unfinished: async () => [],
    list: async () => [],
  } as unknown as OperationJournal;
  return { journal, calls };
}

function owedRecords() {
  const owed: string[] = [];
  const records: WithoutJournal['records'] = {
    begin: (op) => owed.push(`row ${op.id} ${op.type}`),
    finish: (id, status) => owed.push(`end ${id} ${status}`),
  };
  return { owed, records };
}

const row = (id: string): OperationRecord =>
  ({ id, type: 'rollback.emergency', team: 'alpha', status: 'running', phase: 'started', ownerInstance: 'sc1', initiatedBy: 'token ops', idempotencyKey: null, params: {}, result: null, error: null, startedAt: new Date(), completedAt: null, steps: [] }) as OperationRecord;

const req = { type: 'rollback.emergency', team: 'alpha', params: { team: 'alpha' }, actor };

it('runs at once under its own id when the journal has not answered within beginWithinMs, and owes its row and end', async () => {
  let beganWith: string | undefined;
  const { journal, calls } = fakeJournal(async (r) => {
    beganWith = r.id;
    return new Promise(() => undefined); // a partition: no answer, ever
  });
  const runner = new OperationRunner({ journal, clock: { now: () => new Date() } });
  const { owed, records } = owedRecords();
  const out = await runner.run({ ...req, withoutJournal: { body: async () => ({ moved: true }), records, beginWithinMs: 50 } }, async () => {
    throw new Error('the journaled body must not run');
  });
  expect(out).toMatchObject({ created: true, result: { moved: true } });
  expect(beganWith).toBe(out.operationId);
  expect(owed).toEqual([`row ${out.operationId} rollback.emergency`, `end ${out.operationId} succeeded`]);
  expect(calls).toEqual([]);
});

it('a journal that answers in time runs the operation journaled, under the id chosen first', async () => {
  let beganWith: string | undefined;
  const { journal, calls } = fakeJournal(async (r) => {
    beganWith = r.id;
    return { operation: row(r.id!), created: true };
  });
  const runner = new OperationRunner({ journal, clock: { now: () => new Date() } });
  const { owed, records } = owedRecords();
  const out = await runner.run({ ...req, withoutJournal: { body: async () => 'not this one', records, beginWithinMs: 5_000 } }, async () => 'journaled');
  expect(out.result).toBe('journaled');
  expect(out.operationId).toBe(beganWith);
  expect(owed).toEqual([]);
  expect(calls).toEqual([`finish ${beganWith} succeeded`]);
});

it('a database refusing runs it without the journal; any other begin error is the caller’s error', async () => {
  const refused = fakeJournal(async () => {
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  });
  const { owed, records } = owedRecords();
  const out = await new OperationRunner({ journal: refused.journal, clock: { now: () => new Date() } }).run({ ...req, withoutJournal: { body: async () => 'ok', records } }, async () => 'journaled');
  expect(out.result).toBe('ok');
  expect(owed).toHaveLength(2);

  const broken = fakeJournal(async () => {
    throw new RangeError('invalid operation type');
  });
  await expect(new OperationRunner({ journal: broken.journal, clock: { now: () => new Date() } }).run({ ...req, withoutJournal: { body: async () => 'ok', records } }, async () => 'journaled')).rejects.toThrow('invalid operation type');
});

import type { AuditEntry } from '../../agent/src/store/contract';
import { DeferredWrites, type OwedOperationRow } from '../../agent/src/traffic/deferred-writes';

/**
 * Owed writes after a database failover that lost the operation's row (the new
 * primary never received it): re-recorded from the sidecar's own record, or the
 * journal part dropped when nothing is known — once, never retried for an hour.
 */
function journalWithout(known: Set<string>) {
  const calls: string[] = [];
  const audits: AuditEntry[] = [];
  return {
    calls,
    audits,
    journal: {
      get: async (id: string) => (calls.push(`get ${id}`), known.has(id) ? ({ id } as never) : null),
      begin: async (req: { id?: string; type: string }) => {
        calls.push(`begin ${req.id} ${req.type}`);
        known.add(req.id!);
        return { operation: { id: req.id } as never, created: true };
      },
      intent: async (id: string, name: string) => {
        if (!known.has(id)) throw new Error(`operation ${id} not found`);
        calls.push(`intent ${name}`);
        return 1;
      },
      outcome: async (_id: string, seq: number) => void calls.push(`outcome ${seq}`),
      finish: async (id: string, status: string) => {
        if (!known.has(id)) throw new Error(`operation ${id} not found`);
        calls.push(`finish ${status}`);
      },
    },
    environments: { setDesiredWeights: async (team: string, w: { blue: number; green: number }) => void calls.push(`desired ${team} ${w.blue}/${w.green}`) },
    audit: { record: async (e: AuditEntry) => (audits.push(e), e.id!) },
  };
}

const noWait = async (): Promise<void> => undefined;
const row: OwedOperationRow = {
  id: '2b1c6f0e-6a53-4f57-9d59-9a4f3c1d2e10',
  type: 'traffic.switch',
  params: { team: 'alpha', target: 'green' },
  actor: { tokenId: 't', instanceId: 'sc-1', build: 'b#1' },
  startedAt: new Date('2026-12-01T10:00:00Z'),
};

it('re-records an operation the new primary lost, from what the runner knew when the write was queued, then writes the step and the end', async () => {
  const store = journalWithout(new Set());
  const dw = new DeferredWrites({ ...store, sleep: noWait, maxAttempts: 3, operationOf: (id) => (id === row.id ? row : null) });
  dw.weights({ team: 'alpha', opId: row.id, weights: { blue: 100, green: 0 }, step: { name: 'rollback', intent: {} }, desiredWritten: false, result: {} });
  dw.finish('alpha', row.id, 'rolled_back', { code: 'DEPENDENCY_DOWN', message: 'primary gone' });
  await dw.settled();
  expect(store.calls).toEqual(['desired alpha 100/0', `get ${row.id}`, `begin ${row.id} traffic.switch`, 'intent rollback', 'outcome 1', 'finish rolled_back']);
  expect(store.audits).toHaveLength(1);
  expect(store.audits[0]).toMatchObject({ operationId: row.id, operationType: 'traffic.switch', status: 'rerecorded', team: 'alpha' });
  expect(String(store.audits[0]!.metadata?.why)).toMatch(/failover lost its last rows/);
});

it('with nothing to re-record from, still writes the desired weights HAProxy was given, drops the journal part once and audits it', async () => {
  const store = journalWithout(new Set());
  const warnings: string[] = [];
  const dw = new DeferredWrites({ ...store, sleep: noWait, maxAttempts: 720, log: { info: () => undefined, warn: (m) => warnings.push(m) } });
  dw.weights({ team: 'alpha', opId: row.id, weights: { blue: 100, green: 0 }, step: { name: 'rollback', intent: {} }, desiredWritten: false, result: {} });
  await dw.settled();
  expect(store.calls).toEqual(['desired alpha 100/0', `get ${row.id}`]);
  expect(store.audits).toEqual([expect.objectContaining({ operationType: 'owed_write', status: 'dropped', metadata: expect.objectContaining({ desiredWeights: { blue: 100, green: 0 } }) })]);
  expect(warnings.some((w) => w.startsWith('dropped the journal part'))).toBe(true);
  expect(dw.pending('alpha')).toBe(false);
});

it('an operation the database still knows is written as before, with no re-record and no audit', async () => {
  const store = journalWithout(new Set([row.id]));
  const dw = new DeferredWrites({ ...store, sleep: noWait, operationOf: () => row });
  dw.finish('alpha', row.id, 'rolled_back', null);
  await dw.settled();
  expect(store.calls).toEqual([`get ${row.id}`, 'finish rolled_back']);
  expect(store.audits).toEqual([]);
});

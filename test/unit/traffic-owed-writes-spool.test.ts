import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '../../agent/src/store/contract';
import { DeferredWrites, type OwedWrite } from '../../agent/src/traffic/deferred-writes';
import { OwedWritesSpool } from '../../agent/src/traffic/owed-writes-spool';

/**
 * Writes owed to Postgres survive a sidecar restart: the spool file (real
 * files in a temp dir) and a DeferredWrites that resumes it. The store is a
 * fake that records calls and can be "down".
 */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'jsm-spool-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function fakeStore(isDown: (what: string) => boolean) {
  const calls: string[] = [];
  const audits: AuditEntry[] = [];
  const gate = (what: string): void => {
    if (isDown(what)) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    calls.push(what);
  };
  return {
    calls,
    audits,
    deps: {
      journal: {
        intent: async (_op: string, name: string) => (gate(`intent ${name}`), 7),
        outcome: async (_op: string, seq: number, outcome: string) => gate(`outcome ${seq} ${outcome}`),
        finish: async (op: string, status: string) => gate(`finish ${op} ${status}`),
      },
      environments: { setDesiredWeights: async (team: string, w: { blue: number; green: number }) => gate(`desired ${team} ${w.blue}/${w.green}`) },
      audit: {
        record: async (e: AuditEntry) => {
          gate(`audit ${e.id}`);
          audits.push(e);
          return e.id ?? '';
        },
      },
      sleep: async () => undefined,
      maxAttempts: 2,
    },
  };
}

describe('OwedWritesSpool', () => {
  it('keeps what is owed in order with its progress, skips a torn last line, and empties itself when nothing is owed', () => {
    const path = join(dir, 'owed.jsonl');
    const spool = new OwedWritesSpool<{ team: string; n: number }>(path);
    const a = spool.add({ team: 't', n: 1 });
    const b = spool.add({ team: 't', n: 2 });
    spool.progress(a, { seq: 4 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    appendFileSync(path, '{"add":{"id":9,"wri'); // a crash mid-line
    const warnings: string[] = [];
    const again = new OwedWritesSpool<{ team: string; n: number }>(path, { warn: (m) => warnings.push(m) });
    expect(again.load()).toEqual([
      { id: a, write: { team: 't', n: 1 }, progress: { seq: 4 } },
      { id: b, write: { team: 't', n: 2 }, progress: {} },
    ]);
    expect(warnings).toHaveLength(1);
    const c = again.add({ team: 't', n: 3 });
    expect(c).toBeGreaterThan(b);
    again.done(a);
    again.done(b);
    expect(readFileSync(path, 'utf8')).not.toBe('');
    again.done(c);
    expect(readFileSync(path, 'utf8')).toBe('');
    expect(new OwedWritesSpool(path).load()).toEqual([]);
  });
});

describe('DeferredWrites with a spool', () => {
  it('a restart resumes what was owed, without writing again the parts already written', async () => {
    const path = join(dir, 'owed.jsonl');
    // First run: the desired weights and the journal intent land, then the database goes away for good.
    const first = fakeStore((what) => what.startsWith('outcome') || what.startsWith('audit') || what.startsWith('finish'));
    const dw1 = new DeferredWrites({ ...first.deps, spool: new OwedWritesSpool<OwedWrite>(path) });
    dw1.weights({ team: 'alpha', opId: 'op1', weights: { blue: 100, green: 0 }, step: { name: 'rollback', intent: { reason: 'partition' } }, desiredWritten: false, result: { deferred: true } });
    dw1.audit('alpha', { operationType: 'traffic.switch', team: 'alpha', initiatedBy: 'devops/switch#4', status: 'rolled_back', operationId: 'op1', completedAt: new Date('2026-11-27T02:00:00Z') });
    dw1.finish('alpha', 'op1', 'rolled_back', { code: 'DEPENDENCY_DOWN', message: 'partition' });
    await dw1.settled();
    expect(first.calls).toEqual(['desired alpha 100/0', 'intent rollback']);
    expect(dw1.pending('alpha')).toBe(false); // gave up for now: the reconcile loop may run again

    // Second run (the sidecar restarted): everything left is written once, in order; nothing twice.
    const second = fakeStore(() => false);
    const dw2 = new DeferredWrites({ ...second.deps, spool: new OwedWritesSpool<OwedWrite>(path) });
    expect(dw2.resume()).toBe(3);
    expect(dw2.pending('alpha')).toBe(true);
    await dw2.settled();
    expect(second.calls).toEqual(['outcome 7 done', expect.stringMatching(/^audit [0-9a-f-]{36}$/), 'finish op1 rolled_back']);
    expect(second.audits[0]).toMatchObject({ operationId: 'op1', status: 'rolled_back', completedAt: new Date('2026-11-27T02:00:00Z') });
    expect(readFileSync(path, 'utf8')).toBe('');

    // A third start owes nothing.
    expect(new DeferredWrites({ ...fakeStore(() => false).deps, spool: new OwedWritesSpool<OwedWrite>(path) }).resume()).toBe(0);
  });

  it('an audit record owed twice (a retry whose answer was lost) keeps its one id', async () => {
    let answerLost = true;
    const store = fakeStore(() => false);
    const record = store.deps.audit.record;
    store.deps.audit.record = async (e: AuditEntry) => {
      const id = await record(e);
      if (answerLost) {
        answerLost = false;
        throw new Error('Connection terminated unexpectedly');
      }
      return id;
    };
    const dw = new DeferredWrites({ ...store.deps, maxAttempts: 3, spool: new OwedWritesSpool<OwedWrite>(join(dir, 'owed.jsonl')) });
    dw.audit('alpha', { operationType: 'rollback.emergency', team: 'alpha', initiatedBy: 'ops', status: 'completed', operationId: 'op2' });
    await dw.settled();
    expect(store.audits).toHaveLength(2);
    expect(store.audits[0]!.id).toBe(store.audits[1]!.id); // the store inserts it ON CONFLICT (id) DO NOTHING
  });
});

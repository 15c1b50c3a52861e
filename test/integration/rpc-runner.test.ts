import { SidecarError } from '../../agent/src/sidecar-error';
import type { ProgressEvent } from '../../agent/src/operations/event-bus';
import { OperationRunner } from '../../agent/src/operations/runner';
import type { CallContext } from '../../agent/src/rpc/registry';
import { runJournaled } from '../../agent/src/rpc/methods/run-journaled';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { uniqueId } from '../support/sidecar-harness';

/** The operation runner on the real journal: two stores stand in for two sidecar processes. */
let db: TestDatabase;
let storeA: PgStore;
let storeB: PgStore;
let runnerA: OperationRunner;
let runnerB: OperationRunner;
const clock = { now: () => new Date() };
const actorA = { tokenId: 'ops', instanceId: 'runner-a', build: 'devops/Switch#9' };

beforeAll(async () => {
  db = await createTestDatabase('runner');
  storeA = await createPgStore({ connectionString: db.url, instanceId: 'runner-a' });
  storeB = await createPgStore({ connectionString: db.url, instanceId: 'runner-b' });
  runnerA = new OperationRunner({ journal: storeA.journal, clock });
  runnerB = new OperationRunner({ journal: storeB.journal, clock, followBackoffMs: { initial: 50, max: 400 } });
});

afterAll(async () => {
  await storeA?.close();
  await storeB?.close();
  await db?.drop();
});

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('OperationRunner', () => {
  it('runs a body under the journal, fanning progress out to the caller and the bus', async () => {
    const seen: ProgressEvent[] = [];
    const busSeen: string[] = [];
    const onBus = (e: ProgressEvent) => busSeen.push(e.message);
    runnerA.bus.on('progress', onBus);
    const out = await runnerA.run({ type: 'test.op', team: 'devops', params: { n: 1 }, actor: actorA, onProgress: (e) => seen.push(e) }, async (ctx) => {
      ctx.progress({ phase: 'one', message: 'first' });
      ctx.progress({ phase: 'two', message: 'second' });
      return { done: true };
    });
    runnerA.bus.off('progress', onBus);
    expect(out).toMatchObject({ created: true, result: { done: true } });
    expect(seen.map((e) => [e.operationId, e.phase])).toEqual([
      [out.operationId, 'one'],
      [out.operationId, 'two'],
    ]);
    expect(busSeen).toEqual(['first', 'second']);
    const rec = await storeA.journal.get(out.operationId);
    expect(rec).toMatchObject({ status: 'succeeded', result: { done: true }, type: 'test.op', team: 'devops' });
  });

  it('attaches a second call with the same idempotency key to the running operation: one body run, one result', async () => {
    const gate = deferred();
    let runs = 0;
    const key = uniqueId('idem');
    const body = async () => {
      runs++;
      await gate.promise;
      return { value: 42 };
    };
    const first = runnerA.run({ type: 'test.idem', team: 'devops', params: {}, idempotencyKey: key, actor: actorA }, body);
    // Give the first call time to begin (bounded: the journal row exists once begin() returned).
    for (let i = 0; i < 50 && runnerA.inFlight() === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const second = runnerA.run({ type: 'test.idem', team: 'devops', params: {}, idempotencyKey: key, actor: actorA }, body);
    gate.resolve();
    const [a, b] = await Promise.all([first, second]);
    expect(runs).toBe(1);
    expect(b).toEqual({ operationId: a.operationId, created: false, result: { value: 42 } });
    // And after it ended: the same key replays the result.
    expect(await runnerA.run({ type: 'test.idem', team: 'devops', params: {}, idempotencyKey: key, actor: actorA }, body)).toEqual(b);
    expect(runs).toBe(1);
  });

  it('refuses an idempotency key that belongs to another kind of operation', async () => {
    const key = uniqueId('idem');
    await runnerA.run({ type: 'test.one', team: 'devops', params: {}, idempotencyKey: key, actor: actorA }, async () => 1);
    await expect(runnerA.run({ type: 'test.two', team: 'devops', params: {}, idempotencyKey: key, actor: actorA }, async () => 2)).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'idempotency_key_reused' } });
  });

  it('runJournaled names the operation on the call (for its audit row), after a success and after a failure that reported progress', async () => {
    const call = { method: 'test.named', actor: actorA, progress: () => undefined, signal: new AbortController().signal } as unknown as CallContext;
    await runJournaled(runnerA, call, 'devops', {}, async () => ({ ok: true }));
    expect(call.operationId).toMatch(/\S/);
    expect(await storeA.journal.get(call.operationId as string)).toMatchObject({ type: 'test.named', status: 'succeeded' });
    const failing = { ...call, operationId: undefined } as CallContext;
    let id = '';
    await expect(
      runJournaled(runnerA, failing, 'devops', {}, async (ctx) => {
        id = ctx.operation.id;
        ctx.progress({ phase: 'one', message: 'first' });
        throw new SidecarError('CONFLICT', 'refused', { reason: 'operation_running' });
      }),
    ).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'operation_running' } });
    expect(failing.operationId).toBe(id);
  });

  it('journals the status a body names (rolled_back) and gives the caller its error', async () => {
    let id = '';
    await expect(
      runnerA.run({ type: 'test.rollback', team: 'devops', params: {}, actor: actorA }, async (ctx) => {
        id = ctx.operation.id;
        throw new SidecarError('SLI_BREACH', 'error_rate 5% > 2% at step 25%; traffic is back on blue', { step: 25 }, { outcome: 'rolled_back' });
      }),
    ).rejects.toMatchObject({ code: 'SLI_BREACH', outcome: 'rolled_back', data: { operationStatus: 'rolled_back' } });
    expect(await storeA.journal.get(id)).toMatchObject({ status: 'rolled_back', error: { code: 'SLI_BREACH', data: { step: 25, operationStatus: 'rolled_back' } } });
  });

  it('follows an operation run by ANOTHER process through the journal until it ends', async () => {
    const gate = deferred();
    const started = deferred<string>();
    const running = runnerA.run({ type: 'test.remote', team: 'devops', params: {}, actor: actorA }, async (ctx) => {
      started.resolve(ctx.operation.id);
      await gate.promise;
      ctx.progress({ phase: 'finishing', message: 'almost there' });
      return { from: 'a' };
    });
    const id = await started.promise;
    const seen: string[] = [];
    // Release the body only once B has read the running operation: otherwise, on a
    // loaded machine, B's first journal read may already find it finished.
    const firstSeen = deferred<void>();
    const attached = runnerB.attach(id, (e) => {
      seen.push(e.phase);
      firstSeen.resolve();
    });
    await firstSeen.promise;
    gate.resolve();
    expect(await attached).toEqual({ from: 'a' });
    expect(await running).toMatchObject({ result: { from: 'a' } });
    expect(seen[0]).toBe('started');
  });

  it('replays a finished operation to a late attacher, error included', async () => {
    const [failed] = await storeA.journal.list({ team: 'devops', status: 'rolled_back', limit: 1 });
    await expect(runnerB.attach(failed!.id)).rejects.toMatchObject({ code: 'SLI_BREACH', data: { operationId: failed!.id } });
    await expect(runnerB.attach('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('aborts running bodies on shutdown: they see the signal, the journal says aborted, nothing new starts', async () => {
    const runner = new OperationRunner({ journal: storeA.journal, clock });
    const started = deferred<string>();
    const run = runner.run({ type: 'test.abort', team: 'devops', params: {}, actor: actorA }, (ctx) => {
      started.resolve(ctx.operation.id);
      return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
    });
    const id = await started.promise;
    runner.abortAll('test shutdown');
    await expect(run).rejects.toMatchObject({ code: 'DEPENDENCY_DOWN' });
    expect(await runner.drain(5_000)).toBe(0);
    expect(await storeA.journal.get(id)).toMatchObject({ status: 'aborted' });
    await expect(runner.run({ type: 'test.after', team: 'devops', params: {}, actor: actorA }, async () => 1)).rejects.toMatchObject({ code: 'DEPENDENCY_DOWN' });
  });
});

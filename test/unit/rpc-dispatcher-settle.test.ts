import { z } from 'zod';
import { defineMethod } from '../../catalog/methods/method-spec';
import { Dispatcher, type Connection } from '../../agent/src/rpc/dispatcher';
import { MethodRegistry } from '../../agent/src/rpc/registry';

/**
 * Shutdown waits for answers, not just for operations: settle() resolves only after
 * each received message's reply was sent (here: after a slow audit write), or at its bound.
 */
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function setup(auditMs: () => Promise<void>) {
  const registry = new MethodRegistry();
  let release!: () => void;
  const handlerGate = new Promise<void>((r) => (release = r));
  registry.register(
    defineMethod({ name: 'test.slow', summary: 'waits for the gate', params: z.object({}).strict(), result: z.object({ done: z.boolean() }), mutating: true, scope: 'any', long: false }),
    async () => {
      await handlerGate;
      return { done: true };
    },
  );
  const dispatcher = new Dispatcher({
    registry,
    instanceId: 'unit',
    log: quiet,
    maxInFlightPerToken: 8,
    audit: { record: auditMs } as never,
  });
  const sent: string[] = [];
  const conn: Connection = { principal: { tokenId: 'ops', teams: ['*'] }, send: (t) => sent.push(t), signal: new AbortController().signal };
  return { dispatcher, conn, sent, release };
}

it('settle() resolves after the reply is sent, which comes after the audit write', async () => {
  let auditDone!: () => void;
  const auditGate = new Promise<void>((r) => (auditDone = r));
  const { dispatcher, conn, sent, release } = setup(() => auditGate);
  void dispatcher.handle(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.slow', params: {} }), conn);
  expect(dispatcher.unansweredCount()).toBe(1);
  const settled = dispatcher.settle(10_000);
  release(); // the handler (the operation) is done ...
  await new Promise((r) => setImmediate(r));
  expect(sent).toEqual([]); // ... but the audit is still being written: no answer yet
  auditDone();
  expect(await settled).toBe(0);
  expect(sent.map((t) => JSON.parse(t) as unknown)).toEqual([{ jsonrpc: '2.0', id: 1, result: { done: true } }]);
});

it('settle() is bounded: it reports what is still unanswered at its deadline', async () => {
  const { dispatcher, conn, release } = setup(() => Promise.resolve());
  void dispatcher.handle(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'test.slow', params: {} }), conn);
  expect(await dispatcher.settle(20)).toBe(1);
  release();
  expect(await dispatcher.settle(10_000)).toBe(0);
});

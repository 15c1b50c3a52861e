import { z } from 'zod';
import { lockRelease } from '../../catalog/methods/core';
import { defineMethod } from '../../catalog/methods/method-spec';
import { Dispatcher, type Connection } from '../../agent/src/rpc/dispatcher';
import { MethodRegistry } from '../../agent/src/rpc/registry';

/** Answers are the contract: a handler of the wrong shape does not compile, and a wrong answer at run time is an internal error when checked. */
const logged: Array<{ message: string; meta?: Record<string, unknown> }> = [];
const log = { info: () => undefined, warn: () => undefined, error: (message: string, meta?: Record<string, unknown>) => void logged.push({ message, meta }) };
const conn = (sent: string[]): Connection => ({ principal: { tokenId: 'ops', teams: ['*'] }, send: (t) => sent.push(t), signal: new AbortController().signal });

const probe = defineMethod({ name: 'test.probe', summary: 'answers what it is told', params: z.object({ wrong: z.boolean() }).strict(), result: z.object({ count: z.number().int() }), mutating: false, scope: 'any', long: false });

function dispatcher(checkResults: boolean): Dispatcher {
  const registry = new MethodRegistry();
  // The handler's type follows the spec; the wrong answer here has to be forced past the compiler.
  registry.register(probe, async ({ wrong }) => (wrong ? ({ count: 'three' } as unknown as { count: number }) : { count: 3 }));
  return new Dispatcher({ registry, instanceId: 'unit', log, maxInFlightPerToken: 4, checkResults });
}

async function call(d: Dispatcher, wrong: boolean): Promise<Record<string, unknown>> {
  const sent: string[] = [];
  await d.handle(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.probe', params: { wrong } }), conn(sent));
  return JSON.parse(sent[0]!) as Record<string, unknown>;
}

it('does not compile a handler whose answer has the wrong shape', () => {
  const registry = new MethodRegistry();
  // @ts-expect-error released must be a boolean (the result schema of lock.release)
  registry.register(lockRelease, async () => ({ released: 'yes' }));
  expect(registry.get('lock.release')?.spec).toBe(lockRelease);
});

it('with the check on, a wrong answer becomes an internal error naming the field, and is logged', async () => {
  logged.length = 0;
  const d = dispatcher(true);
  expect(await call(d, false)).toMatchObject({ result: { count: 3 } });
  const bad = await call(d, true);
  expect(bad).toMatchObject({ error: { code: -32603, data: { issues: [{ field: 'result.count' }] } } });
  expect(logged.map((l) => l.message)).toEqual(['RPC answer does not match its result schema']);
});

it('with the check off, the answer goes out as the handler gave it', async () => {
  expect(await call(dispatcher(false), true)).toMatchObject({ result: { count: 'three' } });
});

import { CORE_METHODS } from '../../catalog/methods/core';
import { SidecarError } from '../../agent/src/sidecar-error';
import { parseMessage, toRpcError, invalidParams } from '../../agent/src/rpc/protocol';
import { teamOfBreaker } from '../../agent/src/store/visible-listing';

describe('parseMessage', () => {
  it('accepts a request with named params', () => {
    expect(parseMessage('{"jsonrpc":"2.0","id":7,"method":"lock.acquire","params":{"team":"devops"}}')).toEqual({
      ok: true,
      request: { id: 7, expectsReply: true, method: 'lock.acquire', params: { team: 'devops' } },
    });
  });

  it('marks notifications (no id) as not expecting a reply', () => {
    const r = parseMessage('{"jsonrpc":"2.0","method":"rpc.discover"}');
    expect(r.ok && r.request.expectsReply).toBe(false);
  });

  it('answers malformed JSON with -32700 and id null', () => {
    const r = parseMessage('{"jsonrpc":');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.id).toBeNull();
      expect(r.error.code).toBe(-32700);
    }
  });

  it.each([
    ['[]', 'invalid request: batches are not supported; send one request per message'],
    ['42', 'invalid request: expected a JSON object'],
    ['{"id":1,"method":"a.b"}', 'invalid request: "jsonrpc" must be "2.0"'],
    ['{"jsonrpc":"2.0","id":{},"method":"a.b"}', 'invalid request: "id" must be a string, a number or null'],
    ['{"jsonrpc":"2.0","id":1,"method":"bad name"}', 'invalid request: "method" must be a method name such as lock.acquire'],
  ])('answers %s with -32600', (text, message) => {
    const r = parseMessage(text);
    expect(r).toMatchObject({ ok: false, error: { code: -32600, message } });
  });

  it('refuses positional params with -32602', () => {
    expect(parseMessage('{"jsonrpc":"2.0","id":1,"method":"a.b","params":[1]}')).toMatchObject({ ok: false, id: 1, error: { code: -32602 } });
  });
});

describe('error mapping', () => {
  it('turns a SidecarError into -32000 with data.code and its data', () => {
    const e = new SidecarError('LOCK_HELD', 'held by x until t; wait', { holder: 'x', expiresAt: new Date('2030-01-01T00:00:00Z') });
    expect(toRpcError(e)).toEqual({ code: -32000, message: 'held by x until t; wait', data: { holder: 'x', expiresAt: '2030-01-01T00:00:00.000Z', code: 'LOCK_HELD' } });
  });

  it('hides internals of unexpected errors', () => {
    expect(toRpcError(new Error('password=secret'))).toEqual({ code: -32603, message: 'internal error; the sidecar log has the details' });
  });

  it('names each invalid field from the method schema', () => {
    const spec = CORE_METHODS.find((m) => m.name === 'lock.acquire')!;
    const r = spec.params.safeParse({ team: 'Bad Team', operation: 'x', ttlSec: 0, extra: 1 });
    expect(r.success).toBe(false);
    if (!r.success) {
      const body = invalidParams(r.error.issues);
      expect(body.code).toBe(-32602);
      const fields = (body.data?.issues as Array<{ field: string }>).map((i) => i.field).sort();
      expect(fields).toEqual(['(params)', 'team', 'ttlSec']);
      expect(body.message).toMatch(/ttlSec: Too small/);
    }
  });

  it('applies the documented defaults', () => {
    const spec = CORE_METHODS.find((m) => m.name === 'lock.acquire')!;
    expect(spec.params.parse({ team: 'devops', operation: 'blue_green_switch' })).toEqual({ team: 'devops', operation: 'blue_green_switch', ttlSec: 600, waitSec: 0 });
  });

  it('finds the team of a breaker name', () => {
    expect(teamOfBreaker('infrastructure_modification:devops')).toBe('devops');
    expect(teamOfBreaker('global_thing')).toBeNull();
  });
});

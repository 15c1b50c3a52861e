import { firstUnstorableParam, MAX_PARAM_DEPTH, storableText, unstorableReason } from '../../agent/src/rpc/param-bounds';
import { scopedIdempotencyKey } from '../../agent/src/rpc/dispatcher';

describe('param bounds (the edge walk before any schema)', () => {
  it('names the first value or key PostgreSQL cannot store, by its path', () => {
    expect(firstUnstorableParam({ team: 'devops', details: { ok: ['a', 'b\u0000'] } })).toMatchObject({ field: 'details.ok[1]', code: 'unstorable_text' });
    expect(firstUnstorableParam({ details: { 'a\u0000b': 1 } })).toMatchObject({ field: 'details.a\\u0000b', code: 'unstorable_text' });
    expect(firstUnstorableParam({ owner: 'x\ud800' })?.message).toContain('lone surrogate (U+D800)');
    expect(firstUnstorableParam({ owner: '\udc00' })?.field).toBe('owner');
    expect(firstUnstorableParam({ owner: '🦊 fox', build: 'job#1' })).toBeNull();
  });

  it('refuses nesting past the limit without recursion (a 200,000-deep array)', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown;
    const issue = firstUnstorableParam({ details: { x: deep } });
    expect(issue).toMatchObject({ code: 'too_deep' });
    expect(issue!.field.startsWith('details.x[0]')).toBe(true);
    let ok: unknown = 1;
    for (let i = 0; i < MAX_PARAM_DEPTH - 2; i++) ok = [ok];
    expect(firstUnstorableParam({ details: { x: ok } })).toBeNull();
  });

  it('storableText replaces what cannot be stored, also a pair cut in half', () => {
    expect(storableText('a\u0000b', 10)).toBe('a\ufffdb');
    expect(storableText('ab🦊', 3)).toBe('ab\ufffd');
    expect(unstorableReason(storableText('x\ud800y\u0000', 100))).toBeNull();
  });
});

describe('scopedIdempotencyKey', () => {
  it('keeps a key within its team, or its token without one, and hashes what would not fit', () => {
    expect(scopedIdempotencyKey('job#1:lock:1', 'devops', 'devops-ci')).toBe('team:devops/job#1:lock:1');
    expect(scopedIdempotencyKey('job#1:lock:1', 'qa', 'qa-ci')).not.toBe(scopedIdempotencyKey('job#1:lock:1', 'devops', 'devops-ci'));
    expect(scopedIdempotencyKey('k', null, 'ops')).toBe('token:ops/k');
    const long = scopedIdempotencyKey('k'.repeat(200), 'a-team-name-of-forty-characters-xxxxxxxx', 'x');
    expect(long.length).toBeLessThanOrEqual(200);
    expect(long).toMatch(/^team:a-team-name-of-forty-characters-xxxxxxxx\/sha256:[0-9a-f]{64}$/);
  });
});

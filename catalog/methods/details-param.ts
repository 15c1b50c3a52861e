import { z } from 'zod';

/**
 * `details`: free-form facts a pipeline attaches to an audit record or a
 * proposal (`[text: params.OPERATION_DETAILS]`). Stored whole in jsonb and
 * listed by /api/v1/audit, so it is bounded: keys are short names, nesting is
 * shallow, and the whole object is at most DETAILS_MAX_BYTES of JSON (one
 * audit row can no longer hold ~900 KB, and an audit page has a known size).
 */
export const DETAILS_KEY_PATTERN = /^[A-Za-z0-9_.:@/-]{1,64}$/;
export const DETAILS_MAX_DEPTH = 8;
export const DETAILS_MAX_BYTES = 16 * 1024;

/** Depth of a JSON value (a scalar is 0), walked without recursion. */
function depthOf(value: unknown, limit: number): number {
  const stack: Array<{ v: unknown; d: number }> = [{ v: value, d: 0 }];
  let max = 0;
  while (stack.length > 0) {
    const { v, d } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, d + 1);
    if (max > limit) return max;
    for (const child of Object.values(v as Record<string, unknown>)) stack.push({ v: child, d: d + 1 });
  }
  return max;
}

export const detailsParam = z
  .record(z.string().regex(DETAILS_KEY_PATTERN, 'expected a key of 1-64 characters of [A-Za-z0-9_.:@/-]'), z.unknown())
  .superRefine((value, ctx) => {
    if (depthOf(value, DETAILS_MAX_DEPTH) > DETAILS_MAX_DEPTH) {
      ctx.addIssue({ code: 'custom', message: `nested deeper than ${DETAILS_MAX_DEPTH} levels` });
      return;
    }
    const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
    if (bytes > DETAILS_MAX_BYTES) ctx.addIssue({ code: 'custom', message: `${bytes} bytes of JSON; at most ${DETAILS_MAX_BYTES}` });
  })
  .describe(`free-form facts: keys of [A-Za-z0-9_.:@/-] (1-64), nested at most ${DETAILS_MAX_DEPTH} levels, at most ${DETAILS_MAX_BYTES} bytes of JSON`);

import { z } from 'zod';
import { METHODS } from '../../catalog/methods';
import { defineMethod } from '../../catalog/methods/method-spec';
import { exampleAnswer, exampleAnswers } from '../../library-gen/src/render/example-answers';

const method = (result: z.ZodType) => defineMethod({ name: 'x.y', summary: 's', params: z.object({}).strict(), result, mutating: false, scope: 'any', long: false });

/** The example answers docs/rpc-contract.md lists and the Groovy harness answers come from the result schemas alone. */
describe('example answers from the result schemas', () => {
  it.each([...METHODS.keys()])('%s: its example parses with its result schema', (name) => {
    const spec = METHODS.get(name)!;
    const parsed = spec.result.safeParse(exampleAnswers()[name]);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
  });

  it('takes the first enum value, the number nearest 0 the bounds allow, the non-null branch, one list item, and required fields only', () => {
    const result = z.object({
      state: z.enum(['closed', 'open']),
      token: z.number().int().positive(),
      count: z.number().int().min(3).max(9),
      at: z.iso.datetime().nullable(),
      names: z.array(z.string()),
      note: z.string().optional(),
      flag: z.literal(false),
    });
    expect(exampleAnswer(method(result))).toEqual({ state: 'closed', token: 1, count: 3, at: '2026-01-01T00:00:00.000Z', names: ['<names>'], flag: false });
  });

  it('uses the example a schema names where the generator cannot meet a constraint (a regex)', () => {
    const sha = z.object({ sum: z.string().regex(/^[a-f0-9]{64}$/).meta({ examples: ['f'.repeat(64)] }) });
    expect(exampleAnswer(method(sha))).toEqual({ sum: 'f'.repeat(64) });
    expect(method(sha).result.safeParse(exampleAnswer(method(sha))).success).toBe(true);
  });
});

import { STEPS } from '../../catalog/steps';
import { bindParam, methodParamSchema, SENT_AS, type ParamSchema } from '../../catalog/steps/method-binding';

/** A step and the method it calls agree on every argument the step sends: the param exists, has the type the step sends, and the same bounds. */
const nonNull = (s: ParamSchema): ParamSchema => (s.anyOf ? (s.anyOf.find((a) => a.type !== 'null') ?? s) : s);

const sent = STEPS.flatMap((step) => (step.rpc ? step.params.filter((p) => p.rpc).map((p) => ({ step: step.name, method: step.rpc!, param: p })) : []));

describe('steps bound to their methods', () => {
  it('covers the steps that call the sidecar', () => {
    expect(sent.length).toBeGreaterThan(20);
  });

  it.each(sent.map((s) => [`${s.step}(${s.param.name}) -> ${s.method} ${s.param.rpc}`, s] as const))('%s', (_label, { method, param }) => {
    const schema = methodParamSchema(method, param.rpc!);
    expect(schema).toBeDefined();
    const s = nonNull(schema!);
    expect(s.type).toBe(SENT_AS[param.type]);
    const element = param.type === 'integerList' ? (s.items ?? {}) : s;
    if (typeof element.minimum === 'number') expect(param.min).toBe(element.minimum);
    if (typeof element.maximum === 'number' && element.maximum < Number.MAX_SAFE_INTEGER) expect(param.max).toBe(element.maximum);
    const values = s.enum ?? s.items?.enum;
    if (param.enum && values) expect(param.enum).toEqual(values);
    if (param.type === 'environment') expect(s.enum).toEqual(['blue', 'green']);
    if (s.pattern && !s.pattern.includes('\\p{')) expect(`^${param.pattern}$`).toBe(s.pattern);
  });

  it('a step argument written with other bounds takes the method param’s', () => {
    const bound = bindParam('traffic.switch', { name: 'minSamples', type: 'integer', min: 5, max: 10, doc: 'x', rpc: 'minSamples' });
    expect({ min: bound.min, max: bound.max }).toEqual({ min: 0, max: 1_000_000 });
    const lock = bindParam('lock.acquire', { name: 'name', type: 'string', pattern: '[a-z]+', doc: 'x', rpc: 'operation' });
    expect(lock.pattern).toBe('[A-Za-z0-9_.-]{1,50}');
  });
});

import { z } from 'zod';
import { METHODS } from '../methods';
import type { StepParam, StepParamType, StepSpec } from './step-spec';

/**
 * A step's argument that feeds a method param takes its bounds, pattern and
 * allowed values from that param's zod schema (through its JSON Schema, the
 * form rpc.discover publishes), so the step and the sidecar refuse the same
 * values. What a schema cannot say (a refine) stays the step's own check.
 */
export interface ParamSchema {
  type?: string | string[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
  enum?: unknown[];
  items?: ParamSchema;
  anyOf?: ParamSchema[];
}

const cache = new Map<string, Record<string, ParamSchema>>();

/** The JSON Schema of param `name` of method `method` (as a caller sends it), or undefined. */
export function methodParamSchema(method: string, name: string): ParamSchema | undefined {
  let props = cache.get(method);
  if (!props) {
    const spec = METHODS.get(method);
    if (!spec) return undefined;
    props = ((z.toJSONSchema(spec.params, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, ParamSchema> }).properties ?? {});
    cache.set(method, props);
  }
  return props[name];
}

/** The JSON Schema type a step type sends. */
export const SENT_AS: Record<StepParamType, string> = {
  string: 'string',
  integer: 'integer',
  boolean: 'boolean',
  duration: 'integer',
  environment: 'string',
  status: 'string',
  stringList: 'array',
  integerList: 'array',
  triggerList: 'array',
  map: 'object',
};

/** The non-null alternative of a nullable schema. */
const nonNull = (s: ParamSchema): ParamSchema => (s.anyOf ? (s.anyOf.find((a) => a.type !== 'null') ?? s) : s);

/** `pattern` as a step writes it: matched fully, without the anchors. */
const unanchored = (pattern: string): string => pattern.replace(/^\^/, '').replace(/\$$/, '');

export function bindParam(method: string, p: StepParam): StepParam {
  if (!p.rpc) return p;
  const schema = methodParamSchema(method, p.rpc);
  if (!schema) return p;
  const s = nonNull(schema);
  // Bounds of an integer list are those of each element.
  const bounded = p.type === 'integerList' && s.items ? s.items : s;
  const values = s.enum ?? s.items?.enum;
  return {
    ...p,
    ...(typeof bounded.minimum === 'number' ? { min: bounded.minimum } : {}),
    ...(typeof bounded.maximum === 'number' && bounded.maximum < Number.MAX_SAFE_INTEGER ? { max: bounded.maximum } : {}),
    // A Unicode class (\p{Cc}) means one thing to zod (u flag) and another to a JavaScript RegExp without it:
    // such a param keeps the step's own, narrower ASCII pattern, and the sidecar checks the rest.
    ...(s.pattern && !s.pattern.includes('\\p{') ? { pattern: unanchored(s.pattern) } : {}),
    ...(values && p.enum ? { enum: values.filter((v): v is string => typeof v === 'string') } : {}),
  };
}

/** The step with every argument that feeds its method bound to that method's params. */
export function bindStep(step: StepSpec): StepSpec {
  if (!step.rpc) return step;
  const method = step.rpc;
  return { ...step, params: step.params.map((p) => bindParam(method, p)) };
}

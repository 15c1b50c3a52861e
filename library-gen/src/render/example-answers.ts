import { z } from 'zod';
import { METHOD_AREAS } from '../../../catalog/methods';
import type { MethodSpec } from '../../../catalog/methods/method-spec';

/**
 * One example answer per method, derived from its result schema (as JSON Schema,
 * the form the sidecar's answers are checked in): the first enum value, the number
 * nearest 0 the bounds allow, one item per array, the required fields only, the
 * non-null branch of a nullable. A field whose constraint cannot be met this way
 * (a regex) carries its own `.meta({ examples: [...] })` in catalog/methods; the
 * unit tests parse every example with its schema, so a method whose example
 * does not fit says so. docs/rpc-contract.md lists them; the Groovy harness's
 * fake sidecarctl answers them unless a scenario says otherwise.
 */
interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  items?: Schema;
  prefixItems?: Schema[];
  minItems?: number;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  examples?: unknown[];
  default?: unknown;
  format?: string;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  minLength?: number;
}

/** A fixed time, so the rendering is byte-identical run to run. */
const EXAMPLE_TIME = '2026-01-01T00:00:00.000Z';

function firstType(s: Schema): string | undefined {
  if (Array.isArray(s.type)) return s.type.find((t) => t !== 'null') ?? s.type[0];
  return s.type;
}

/** The number nearest 0 the bounds allow (an int's implicit ±2^53 bounds leave 0). */
function numberExample(s: Schema, integer: boolean): number {
  let n = 0;
  if (s.minimum !== undefined && n < s.minimum) n = s.minimum;
  if (s.exclusiveMinimum !== undefined && n <= s.exclusiveMinimum) n = s.exclusiveMinimum + (integer ? 1 : 0.5);
  if (s.maximum !== undefined && n > s.maximum) n = s.maximum;
  return integer ? Math.ceil(n) : n;
}

function stringExample(s: Schema, name: string): string {
  if (s.format === 'date-time') return EXAMPLE_TIME;
  const text = name ? `<${name}>` : '<text>';
  return s.minLength !== undefined && text.length < s.minLength ? text.padEnd(s.minLength, 'x') : text;
}

/** The required fields only: an optional one is absent in the plainest answer (a flag like alreadyActive is off). */
function objectExample(s: Schema): Record<string, unknown> {
  const required = new Set(s.required ?? []);
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(s.properties ?? {})) if (required.has(key)) out[key] = exampleOf(field, key);
  return out;
}

/** An example value of one JSON Schema node; `name` is the field it fills (for placeholder text). */
export function exampleOf(s: Schema, name = ''): unknown {
  if (s.examples?.length) return s.examples[0];
  if (s.const !== undefined) return s.const;
  if (s.enum?.length) return s.enum[0];
  if (s.default !== undefined) return s.default;
  const branches = s.anyOf ?? s.oneOf;
  if (branches?.length) return exampleOf(branches.find((b) => firstType(b) !== 'null') ?? branches[0], name);
  if (s.allOf?.length) return Object.assign({}, ...s.allOf.map((part) => exampleOf(part, name)));
  switch (firstType(s)) {
    case 'object':
      return objectExample(s);
    case 'array': {
      if (s.prefixItems) return s.prefixItems.map((item) => exampleOf(item, name));
      const item = exampleOf(s.items ?? {}, name);
      return Array.from({ length: Math.max(1, s.minItems ?? 1) }, () => item);
    }
    case 'string':
      return stringExample(s, name);
    case 'integer':
      return numberExample(s, true);
    case 'number':
      return numberExample(s, false);
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      // Any JSON value (z.unknown()): null is one.
      return null;
  }
}

/** The example answer of one method, as it travels (JSON). */
export function exampleAnswer(spec: MethodSpec): unknown {
  return exampleOf(z.toJSONSchema(spec.result, { io: 'input', unrepresentable: 'any' }) as Schema);
}

/** Every method's example answer, by name, in the contract's order. */
export function exampleAnswers(): Record<string, unknown> {
  return Object.fromEntries(METHOD_AREAS.flatMap((a) => a.methods).map((m) => [m.name, exampleAnswer(m)]));
}

/** The section of docs/rpc-contract.md that shows them: one line of JSON per method. */
export function exampleAnswersMarkdown(): string[] {
  return [
    '## Example answers',
    '',
    'One answer of each method, generated from its result schema (first enum value, the number nearest 0 allowed, one item per list, ' +
      'required fields only, `<field>` for free text); each parses with that schema. ' +
      "The Groovy harness's fake `sidecarctl` answers these unless a test scenario says otherwise.",
    '',
    ...Object.entries(exampleAnswers()).map(([name, answer]) => `- \`${name}\`: \`${JSON.stringify(answer)}\``),
    '',
  ];
}

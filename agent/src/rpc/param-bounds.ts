/**
 * The edge checks every call's raw params pass before its schema: text that
 * PostgreSQL cannot store (a NUL in a text column or a jsonb string, a lone
 * UTF-16 surrogate, which jsonb refuses as "\ud800") and nesting deeper than
 * anything a caller needs (a 200,000-deep array overflows the stack of every
 * recursive walk after us: zod, JSON.stringify for the journal). The walk is
 * iterative for that reason. Pure.
 */
export const MAX_PARAM_DEPTH = 32;
/** Values looked at per call; a frame is at most SIDECAR_MAX_PAYLOAD_BYTES, this bounds the walk. */
export const MAX_PARAM_NODES = 50_000;

export interface ParamIssue {
  field: string;
  message: string;
  code: string;
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why PostgreSQL cannot store `text`, or null. */
export function unstorableReason(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000), which cannot be stored';
  const lone = LONE_SURROGATE.exec(text);
  if (lone) return `contains a lone surrogate (U+${lone[0].charCodeAt(0).toString(16).toUpperCase()}), which is not valid Unicode`;
  return null;
}

/** A key as it may appear in a field path: printable, short, never the raw hostile text. */
export function printableKey(key: string): string {
  // Escaped to ASCII, so the path is storable and shows what was sent (a NUL reads \u0000).
  const safe = key.slice(0, 40).replace(/[^\x21-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return key.length > 40 ? `${safe}…` : safe;
}

const join = (path: string, key: string | number): string => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${printableKey(key)}` : printableKey(key));

/** The first field of `params` that cannot be stored or nests too deep, or null. */
export function firstUnstorableParam(params: Record<string, unknown>): ParamIssue | null {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: params, path: '', depth: 0 }];
  let seen = 0;
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (++seen > MAX_PARAM_NODES) return { field: path || '(params)', message: `more than ${MAX_PARAM_NODES} values in one call`, code: 'too_big' };
    if (typeof value === 'string') {
      const why = unstorableReason(value);
      if (why) return { field: path, message: why, code: 'unstorable_text' };
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_PARAM_DEPTH) return { field: path, message: `nested deeper than ${MAX_PARAM_DEPTH} levels`, code: 'too_deep' };
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: join(path, i), depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const why = unstorableReason(key);
      if (why) return { field: join(path, key), message: `key ${why}`, code: 'unstorable_text' };
      stack.push({ value: (value as Record<string, unknown>)[key], path: join(path, key), depth: depth + 1 });
    }
  }
  return null;
}

/** `text` with what PostgreSQL refuses replaced by U+FFFD and cut to `max` characters: for audit rows of refused calls. */
export function storableText(text: string, max: number): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  return cut.replaceAll('\u0000', '\ufffd').replace(new RegExp(LONE_SURROGATE.source, 'g'), '\ufffd');
}

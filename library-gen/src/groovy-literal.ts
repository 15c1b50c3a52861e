/**
 * Groovy source literals for values library-gen puts into generated code.
 * Strings are single-quoted (no GString interpolation of `$`), so text from the
 * catalog or the teams file can never become code.
 */
export type LiteralValue = string | number | boolean | null | undefined | LiteralValue[] | { [k: string]: LiteralValue };

export function groovyString(s: string): string {
  const body = s
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "\\'")
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')
    // Other control characters: unicode escapes keep the file printable.
    .split('')
    .map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c))
    .join('');
  return `'${body}'`;
}

const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Keys that are Groovy keywords still work unquoted in map literals except these oddities.
const RESERVED_KEYS = new Set(['class', 'default', 'in', 'as', 'def', 'if', 'else', 'for', 'while', 'return', 'true', 'false', 'null', 'new', 'enum']);

function groovyKey(k: string): string {
  return SIMPLE_KEY.test(k) && !RESERVED_KEYS.has(k) ? k : groovyString(k);
}

/** One-line Groovy literal: '…', 12, true, null, [a, b], [key: value] ([:] when empty). */
export function groovyLiteral(v: LiteralValue): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return groovyString(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} as a Groovy literal`);
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(groovyLiteral).join(', ')}]`;
  const entries = Object.entries(v).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '[:]';
  return `[${entries.map(([k, x]) => `${groovyKey(k)}: ${groovyLiteral(x)}`).join(', ')}]`;
}

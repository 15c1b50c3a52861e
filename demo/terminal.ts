/**
 * What the person running the demo reads: one `==>` line per phase, indented
 * detail lines, and `DEMO RESULT` lines that the integration test looks for.
 */
const started = Date.now();

function stamp(): string {
  return `${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s`;
}

export function phase(text: string): void {
  process.stdout.write(`\n[demo ${stamp()}] ==> ${text}\n`);
}

export function detail(text: string): void {
  process.stdout.write(`[demo ${stamp()}]     ${text}\n`);
}

export function outcome(name: string, ok: boolean, text: string): void {
  process.stdout.write(`[demo ${stamp()}] DEMO RESULT ${name}: ${ok ? 'OK' : 'FAILED'}: ${text}\n`);
}

/** Prefixes every line of a child's output (sidecarctl progress, haproxy) so the source is clear. */
export function prefixed(prefix: string): (chunk: Buffer | string) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) process.stdout.write(`${prefix}${line}\n`);
  };
}

/**
 * One line of `sidecarctl doctor`: what was checked, how it went, and for
 * anything not ok the command or edit that fixes it.
 */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  summary: string;
  /** What to do about it, written as commands an operator can run. */
  fix?: string;
  /** Extra lines (e.g. each problem in a file). */
  details?: string[];
}

export const ok = (name: string, summary: string, details?: string[]): CheckResult => ({ name, status: 'ok', summary, ...(details?.length ? { details } : {}) });
export const warn = (name: string, summary: string, fix?: string, details?: string[]): CheckResult => ({
  name,
  status: 'warn',
  summary,
  ...(fix ? { fix } : {}),
  ...(details?.length ? { details } : {}),
});
export const fail = (name: string, summary: string, fix: string, details?: string[]): CheckResult => ({
  name,
  status: 'fail',
  summary,
  fix,
  ...(details?.length ? { details } : {}),
});
export const skip = (name: string, summary: string): CheckResult => ({ name, status: 'skip', summary });

const LABEL: Record<CheckStatus, string> = { ok: ' OK ', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

/** The human report: one line per check, then its details and fix indented. */
export function formatReport(results: CheckResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`[${LABEL[r.status]}] ${r.name}: ${r.summary}`);
    for (const d of r.details ?? []) lines.push(`       - ${d}`);
    if (r.fix) lines.push(`       fix: ${r.fix.split('\n').join('\n            ')}`);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  lines.push(failed ? `${failed} problem(s) to fix, ${warned} warning(s)` : `no problems found${warned ? `, ${warned} warning(s)` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** Non-zero when anything failed; warnings alone do not fail a host. */
export const exitCodeFor = (results: CheckResult[]): number => (results.some((r) => r.status === 'fail') ? 1 : 0);

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { MANAGED_ROOTS, type Plan } from './plan';

/** What differs between a plan and a directory. */
export interface Drift {
  missing: string[];
  changed: string[];
  /** Files under library-gen's folders that the plan does not contain. */
  extra: string[];
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  if (statSync(dir).isFile()) return [dir];
  const out: string[] = [];
  for (const name of readdirSync(dir)) out.push(...listFiles(join(dir, name)));
  return out;
}

function managedFilesOnDisk(outDir: string): string[] {
  return MANAGED_ROOTS.flatMap((r) => listFiles(join(outDir, r))).map((p) => relative(outDir, p).split(sep).join('/'));
}

export function compareWithDisk(outDir: string, plan: Plan): Drift {
  const drift: Drift = { missing: [], changed: [], extra: [] };
  for (const [path, text] of plan) {
    const full = join(outDir, path);
    if (!existsSync(full)) drift.missing.push(path);
    else if (readFileSync(full, 'utf8') !== text) drift.changed.push(path);
  }
  drift.extra = managedFilesOnDisk(outDir).filter((p) => !plan.has(p)).sort();
  return drift;
}

export const hasDrift = (d: Drift): boolean => d.missing.length + d.changed.length + d.extra.length > 0;

/**
 * Writes the plan: each changed file through a temp file and rename (a reader never
 * sees half a file), then removes files under library-gen's folders that the plan
 * no longer has. Returns what it changed.
 */
export function writePlan(outDir: string, plan: Plan): Drift {
  const drift = compareWithDisk(outDir, plan);
  for (const path of [...drift.missing, ...drift.changed]) {
    const full = join(outDir, path);
    mkdirSync(dirname(full), { recursive: true });
    const tmp = `${full}.tmp-${process.pid}`;
    writeFileSync(tmp, plan.get(path) as string);
    renameSync(tmp, full);
  }
  for (const path of drift.extra) rmSync(join(outDir, path), { force: true });
  return drift;
}

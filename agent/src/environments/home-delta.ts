/**
 * The second pass of a pre-copied migration: what changed in the source's
 * home between the copy made while it still ran and the moment it is idle.
 * Pure: the listing comes from `find -printf` in the source container
 * (sizes and mtimes only, no contents: its cost grows with the number of
 * entries, not with their bytes), the manifest from the pre-copy's tar headers.
 */
import type { ObservedEntry } from '../docker/archive';
import { splitJobPath } from '../jenkins/home-layout';

/** mtimeSec in whole seconds: what a tar header keeps. */
export type ListedEntry = ObservedEntry;

/** GNU find: type, size, mtime, path below the start, link target; each field NUL-terminated. */
export const FIND_FORMAT = '%y\\0%s\\0%T@\\0%P\\0%l\\0';
const KINDS: Record<string, ListedEntry['kind']> = { f: 'file', d: 'directory', l: 'symlink' };

/**
 * The same fields with %p (the path as found, start point included) instead of %P: the listings of
 * changes give find several start points, and %P is relative to each (findutils, Format Directives).
 */
export const FIND_FORMAT_FULL_PATH = '%y\\0%s\\0%T@\\0%p\\0%l\\0';

/**
 * Pure: `find START -printf FIND_FORMAT` output → entries (START itself, devices and fifos left out).
 * With `home`, the output is of FIND_FORMAT_FULL_PATH and paths are made relative to it (home itself
 * and anything outside it left out).
 */
export function parseFindListing(out: Buffer, home?: string): ListedEntry[] {
  const fields = out.toString('utf8').split('\0');
  const entries: ListedEntry[] = [];
  const prefix = home ? `${home.replace(/\/+$/, '')}/` : '';
  for (let i = 0; i + 4 < fields.length; i += 5) {
    const kind = KINDS[fields[i]];
    let path = fields[i + 3];
    if (prefix) path = path.startsWith(prefix) ? path.slice(prefix.length) : '';
    if (!kind || !path) continue;
    const e: ListedEntry = { path, kind, size: Number(fields[i + 1]), mtimeSec: Math.floor(Number(fields[i + 2])) };
    if (kind === 'symlink') e.linkname = fields[i + 4];
    entries.push(e);
  }
  return entries;
}

export interface DeltaPlan {
  /** Topmost paths to copy again: changed files and links, whole new directories. */
  fetch: string[];
  /** Topmost paths the source no longer has (or has as another kind): removed from the target. */
  remove: string[];
  /** Files and bytes the fetch carries. */
  files: number;
  bytes: number;
}

const parentOf = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
const ancestors = (p: string): string[] => {
  const out: string[] = [];
  for (let d = parentOf(p); d; d = parentOf(d)) out.push(d);
  return out;
};

function changedSince(old: ListedEntry | undefined, now: ListedEntry, racySinceSec: number): boolean {
  if (!old || old.kind !== now.kind) return true;
  if (now.kind === 'symlink') return old.linkname !== now.linkname;
  if (now.kind !== 'file') return false;
  // A file written in the same second the pre-copy read it can keep size and mtime: treated as changed (git's "racily clean" rule).
  return old.size !== now.size || old.mtimeSec !== now.mtimeSec || now.mtimeSec >= racySinceSec;
}

/**
 * Pure: compares the pre-copy's manifest with the source as it is now (both
 * already the migration's selection). `racySinceSec` is the second the
 * pre-copy started minus one: files modified from then on are copied again.
 */
export function planDelta(copied: ReadonlyMap<string, ListedEntry>, now: readonly ListedEntry[], racySinceSec: number): DeltaPlan {
  const changed: ListedEntry[] = [];
  // Copied entries found again as the same kind: when that is all of them, nothing was removed (the common case, no second map).
  let found = 0;
  for (const e of now) {
    const old = copied.get(e.path);
    if (old?.kind === e.kind) found += 1;
    if (changedSince(old, e, racySinceSec)) changed.push(e);
  }
  const { fetch, files, bytes } = fetchPlan(changed);
  const current = found === copied.size ? null : new Map(now.map((e) => [e.path, e.kind]));
  const gone = current ? [...copied.values()].filter((e) => current.get(e.path) !== e.kind).map((e) => e.path).sort() : [];
  const remove: string[] = [];
  for (const p of gone) if (!remove.some((r) => p.startsWith(`${r}/`))) remove.push(p);
  return { fetch, remove, files, bytes };
}

/** The paths to copy for `changed` (a new directory's entries travel with it), with the files' count and bytes. */
function fetchPlan(changed: readonly ListedEntry[]): { fetch: string[]; files: number; bytes: number } {
  const newDirs = new Set(changed.filter((e) => e.kind === 'directory').map((e) => e.path));
  const fetch: string[] = [];
  let files = 0;
  let bytes = 0;
  for (const e of [...changed].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    if (e.kind === 'file') {
      files += 1;
      bytes += e.size;
    }
    if (!ancestors(e.path).some((d) => newDirs.has(d))) fetch.push(e.path);
  }
  return { fetch, files, bytes };
}

/**
 * What the source holds now, listed only where it can differ from the pre-copy (see
 * home-changes.ts): entries changed since, and the full contents of `listedDirs`.
 */
export interface ChangedView {
  /** Entries whose status changed since the pre-copy began, the children of listedDirs, the subtrees of new directories; of the selection only. */
  entries: ListedEntry[];
  /** Directories ('' for the home itself) whose children all appear in entries: a copied child missing there was removed. */
  listedDirs: ReadonlySet<string>;
}

/**
 * Pure: planDelta for a ChangedView. An entry the view does not show is as
 * the pre-copy copied it: its status did not change (ctime; a write, a
 * rename in or out and an unlink each change it, and nothing sets it back),
 * so neither did its bytes, and a directory whose status did not change lost
 * no entry. Removals are looked for only among the children of listedDirs.
 */
export function planDeltaFromChanges(copied: ReadonlyMap<string, ListedEntry>, view: ChangedView, racySinceSec: number): DeltaPlan {
  const changed = view.entries.filter((e) => changedSince(copied.get(e.path), e, racySinceSec));
  const { fetch, files, bytes } = fetchPlan(changed);
  const gone: string[] = [];
  if (view.listedDirs.size) {
    const present = new Map(view.entries.map((e) => [e.path, e.kind]));
    for (const e of copied.values()) if (view.listedDirs.has(parentOf(e.path)) && present.get(e.path) !== e.kind) gone.push(e.path);
  }
  gone.sort();
  const remove: string[] = [];
  for (const p of gone) if (!remove.some((r) => p.startsWith(`${r}/`))) remove.push(p);
  return { fetch, remove, files, bytes };
}

/** What a target did after a migration and before traffic went back to the source. */
export interface StayedBehind {
  /** Topmost entries new or changed since the migration (a build's directory, a saved config.xml); at most 200. */
  changed: string[];
  /** Topmost entries deleted since; at most 200. */
  removed: string[];
  files: number;
  bytes: number;
  /** Builds that appeared (`folder/job#12`): Jenkins keeps each in `builds/<number>/` (core AbstractLazyLoadRunMap.loadNumberOnDisk takes the all-digit names there as build numbers); at most 200. */
  builds: string[];
}

/** `jobs/a/jobs/b/builds/12` → `a/b#12`; anything else null. */
function buildOf(e: ListedEntry): string | null {
  if (e.kind !== 'directory') return null;
  const { job, rest } = splitJobPath(e.path);
  return job && rest.length === 2 && rest[0] === 'builds' && /^[1-9][0-9]{0,9}$/.test(rest[1]) ? `${job}#${rest[1]}` : null;
}

/**
 * Pure: compares the target's home at one moment (right after the migration,
 * or when a switch began) with its home now, by size and mtime only (nothing
 * copied back: builds there were numbered after the source's and would
 * collide with its next ones). `listedAtSec`: when `before` was listed; a file
 * written in that same second can keep its size and whole-second mtime, so it
 * counts as changed (the racily clean rule, as for the migration's delta).
 */
export function stayedBehind(before: readonly ListedEntry[], now: readonly ListedEntry[], listedAtSec = Number.POSITIVE_INFINITY): StayedBehind {
  const had = new Map(before.map((e) => [e.path, e]));
  const plan = planDelta(had, now, listedAtSec);
  const builds = now.filter((e) => had.get(e.path)?.kind !== 'directory').map(buildOf).filter((b): b is string => b !== null);
  return { changed: plan.fetch.slice(0, 200), removed: plan.remove.slice(0, 200), files: plan.files, bytes: plan.bytes, builds: builds.slice(0, 200) };
}

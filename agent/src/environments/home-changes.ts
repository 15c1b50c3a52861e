import type Docker from 'dockerode';
import { JENKINS_HOME_IN_CONTAINER } from '../docker/container-spec';
import type { EntryKind } from '../docker/archive';
import { FIND_FORMAT_FULL_PATH, parseFindListing, type ChangedView, type ListedEntry } from './home-delta';
import { execInContainer } from './target-snapshot';

/**
 * The source's home listed for the final delta of a migration without listing
 * all of it: inside the quiet-down window, only what can differ from the
 * pre-copy is read. Relies on the inode's status-change time (ctime): POSIX
 * marks it on every write, truncate, chmod/chown, link and unlink of an
 * entry, and on a directory when an entry is added to it, removed from it or
 * renamed in it; no call sets it to a chosen value (utimensat sets mtime, and
 * marks ctime now). So an entry whose ctime is not later than the pre-copy's
 * start has the bytes the pre-copy read, and a directory whose ctime is not
 * later holds the same names.
 *
 * GNU find's `-newerct @T` (true when the entry's ctime is strictly later than
 * T), `-mindepth`/`-maxdepth` and several start points (findutils manual,
 * "Comparing Timestamps", "Depth") do the reading in the container:
 * 1. the home's own entries (depth 1), always in full;
 * 2. below each selected top-level directory, the entries changed since T;
 * 3. the children of each changed directory the pre-copy copied (to find what was removed);
 * 4. the whole subtree of each directory the pre-copy did not copy (its entries may be older than T: moved in).
 */

type Select = (rel: string, kind: EntryKind) => boolean;

/** Start points per find call: paths are absolute (never read as an expression) and a command line stays far below ARG_MAX. */
const BATCH = 400;
const HOME = JENKINS_HOME_IN_CONTAINER;

async function findIn(docker: Docker, containerId: string, starts: readonly string[], expr: string[]): Promise<ListedEntry[]> {
  const out: ListedEntry[] = [];
  for (let i = 0; i < starts.length; i += BATCH) {
    const listing = await execInContainer(docker, containerId, ['find', ...starts.slice(i, i + BATCH), ...expr, '-printf', FIND_FORMAT_FULL_PATH]);
    out.push(...parseFindListing(listing, HOME));
  }
  return out;
}

const abs = (rel: string): string => (rel ? `${HOME}/${rel}` : HOME);

/**
 * Lists what of the selection may have changed in the source since `sinceSec`
 * (seconds on the Docker host's clock, which stamps the container's files).
 * `copied`: the pre-copy's manifest. Entries come out selected, each once.
 */
export async function listChangesSince(docker: Docker, containerId: string, select: Select, copied: ReadonlyMap<string, ListedEntry>, sinceSec: number): Promise<ChangedView> {
  const seen = new Map<string, ListedEntry>();
  // Each step's selected entries, also when an earlier step listed them (a root is in the home's listing and, changed, in its own).
  const keep = (entries: ListedEntry[]): ListedEntry[] => entries.filter((e) => select(e.path, e.kind) && (seen.set(e.path, e), true));
  const newer = ['-newerct', `@${Math.floor(sinceSec)}`];
  const top = keep(await findIn(docker, containerId, [HOME], ['-mindepth', '1', '-maxdepth', '1']));
  const roots = top.filter((e) => e.kind === 'directory' && copied.get(e.path)?.kind === 'directory').map((e) => e.path);
  const changed = keep(await findIn(docker, containerId, roots.map(abs), newer));
  const listedDirs = new Set<string>(['']);
  // A root whose own status changed shows in `changed` (depth 0 is tested too).
  const toList = changed.filter((e) => e.kind === 'directory' && copied.get(e.path)?.kind === 'directory').map((e) => e.path);
  for (const d of toList) listedDirs.add(d);
  const children = keep(await findIn(docker, containerId, toList.map(abs), ['-mindepth', '1', '-maxdepth', '1']));
  const isNewDir = (e: ListedEntry): boolean => e.kind === 'directory' && copied.get(e.path)?.kind !== 'directory';
  const fresh = [...top, ...changed, ...children].filter(isNewDir).map((e) => e.path);
  // Topmost only: a new directory's subtree listing covers the new directories inside it.
  const freshSet = new Set(fresh);
  const freshTop = fresh.filter((p) => !ancestorIn(p, freshSet));
  keep(await findIn(docker, containerId, freshTop.map(abs), ['-mindepth', '1']));
  return { entries: [...seen.values()], listedDirs };
}

function ancestorIn(p: string, set: ReadonlySet<string>): boolean {
  for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (set.has(p.slice(0, i))) return true;
  return false;
}

/**
 * The Docker host's clock now, in ms (Docker's GET /info SystemTime): the
 * clock that stamps the container's files, which may not be this process's
 * when the engine is remote. null when the engine does not say.
 */
export async function engineClockMs(docker: Docker): Promise<number | null> {
  try {
    const t = Date.parse(String(((await docker.info()) as { SystemTime?: string }).SystemTime ?? ''));
    return Number.isFinite(t) ? t : null;
  } catch {
    return null;
  }
}

import type { MigrationOperation } from '../../../catalog/methods/environment';
import type { EntryKind, HomeEntry } from '../docker/archive';

/**
 * What of a JENKINS_HOME is configuration state (of the three tiers: configuration,
 * runtime, build data), as relative paths inside the home. Jobs live in
 * `jobs/<name>/config.xml`, folders nest as `jobs/<folder>/jobs/<name>/`.
 */

/** Splits `jobs/a/jobs/b/builds/3/log` into the job path (`a/b`) and the rest (`builds/3/log`). */
export function splitJobPath(rel: string): { job: string | null; rest: string[]; isJobTree: boolean } {
  const segs = rel.split('/').filter(Boolean);
  if (segs[0] !== 'jobs') return { job: null, rest: segs, isJobTree: false };
  const names: string[] = [];
  let i = 0;
  while (i < segs.length && segs[i] === 'jobs' && i + 1 < segs.length) {
    names.push(segs[i + 1]);
    i += 2;
  }
  // `jobs` itself, or `jobs/a/jobs` (a folder's item directory) has no trailing name.
  return { job: names.length ? names.join('/') : null, rest: segs.slice(i), isJobTree: true };
}

/** A plain `switch` moves traffic between two sides of one image; Pipeline B's operations give the target a new image. */
export type { MigrationOperation };

export interface MigrationSelection {
  includeBuilds?: boolean;
  includeWorkspaces?: boolean;
  /**
   * The target's image owns the plugins and the global configuration: they
   * are left as the target's image and its JCasC made them (see imageOwnsConfiguration).
   */
  imageOwned?: boolean;
  /**
   * Nodes each controller keeps as its own (the coordination agent's: its
   * remoteFS is per environment). Jenkins keeps a node in
   * `nodes/<name>/config.xml` (core hudson.model.Nodes.load); copying it would
   * give the target the source's node until JCasC applies again at a restart.
   */
  ownNodes?: readonly string[];
}

const TOP_LEVEL_FILE = /^([A-Za-z0-9_.-]+\.xml|secret\.key|secret\.key\.not-so-secret)$/;
const PLUGIN_FILE = /^[A-Za-z0-9_.-]+\.(jpi|hpi)(\.disabled|\.pinned)?$/;
const WHOLE_TREES = ['users', 'secrets', 'nodes'];
/**
 * Top-level files that hold what happened on a controller, not how it is set
 * up: secrets (everything encrypted in the home needs them), credentials added
 * through the UI (SystemCredentialsProvider's credentials.xml; one declared in
 * jenkins.yaml is written there again by JCasC at every start) and script
 * approvals an administrator granted (script-security's ScriptApproval.xml).
 */
const HOME_OWNED_TOP_LEVEL = new Set(['secret.key', 'secret.key.not-so-secret', 'credentials.xml', 'org.jenkinsci.plugins.scriptsecurity.scripts.ScriptApproval.xml']);

/**
 * Pure: whether the target's image owns plugins and global configuration.
 * A new image brings its plugins in /usr/share/jenkins/ref/plugins (the
 * generated Dockerfile's jenkins-plugin-cli), which the official image's
 * entrypoint copies into JENKINS_HOME/plugins at start (jenkinsci/docker
 * jenkins-support copy_reference_file) and Jenkins loads once, at start
 * (LocalPluginManager: JENKINS_HOME/plugins). Its jenkins.yaml is applied by
 * JCasC at start (ConfigurationAsCode.init, an @Initializer) and saved into
 * the top-level XML of each object it configures (BaseConfigurator.configure:
 * BulkChange.commit). Copying the source's plugins/ or top-level XML over
 * them brings the old plugins back at the next start and the old settings at
 * the next /reload (Jenkins.reload runs no @Initializer: JCasC does not run
 * again). True for every operation but a switch, and for a switch between two
 * different images.
 */
export const imageOwnsConfiguration = (operation: MigrationOperation, sameImage: boolean): boolean => operation !== 'switch' || !sameImage;

/**
 * Pure: the entries a migration copies. Job configs and build numbers,
 * users/, secrets/ (credentials are encrypted with them), nodes/ (but for
 * the controller's own nodes, see ownNodes) and the home-owned top-level files always; build history unless includeBuilds is
 * false; workspaces only when asked. The other top-level config files and the
 * plugin list (the .jpi files, not their exploded directories) only when the
 * target's image does not own them (a switch between sides of one image).
 */
export function selectForMigration(opts: MigrationSelection = {}): (rel: string, kind: EntryKind) => boolean {
  const builds = opts.includeBuilds !== false;
  return (rel, kind) => {
    const segs = rel.split('/');
    const top = segs[0];
    if (segs.length === 1) {
      if (kind === 'directory') return ['jobs', ...WHOLE_TREES].includes(top) || (top === 'plugins' && !opts.imageOwned) || (!!opts.includeWorkspaces && top === 'workspace');
      return kind === 'file' && TOP_LEVEL_FILE.test(top) && (!opts.imageOwned || HOME_OWNED_TOP_LEVEL.has(top));
    }
    if (top === 'nodes' && opts.ownNodes?.includes(segs[1])) return false;
    if (WHOLE_TREES.includes(top)) return true;
    if (top === 'workspace') return !!opts.includeWorkspaces;
    if (top === 'plugins') return !opts.imageOwned && segs.length === 2 && kind === 'file' && PLUGIN_FILE.test(segs[1]);
    if (top !== 'jobs') return false;
    // splitJobPath's reading without building the job's name: this runs for every entry of a home listing.
    const js = rel.endsWith('/') || rel.includes('//') ? segs.filter(Boolean) : segs;
    const at = restIndex(js);
    if (at < 0) return kind === 'directory'; // jobs/<folder>/jobs
    const restLength = js.length - at;
    const first = js[at];
    if (restLength === 0) return kind === 'directory';
    if (restLength === 1 && first === 'jobs') return kind === 'directory'; // a folder's item directory
    if (restLength === 1 && kind === 'file') return first === 'config.xml' || first === 'nextBuildNumber';
    if (first === 'builds') return builds;
    if (first === 'workspace') return !!opts.includeWorkspaces;
    return false;
  };
}

/**
 * Pure: `select` without one build's directory (`jobs/a/jobs/b/builds/12` for
 * `a/b#12`). For the build that asked for the migration: it runs on the source
 * until after the copy, writing its directory as it goes (its log is
 * `builds/<n>/log` in the run's root directory, core Run.getLogFile), so a copy
 * would be of a build half-way, and each later migration would find it changed
 * and reload the target. Its record stays on the source, where it finishes.
 */
export function excludingBuild(select: (rel: string, kind: EntryKind) => boolean, build: { job: string; number: number } | null): (rel: string, kind: EntryKind) => boolean {
  if (!build) return select;
  const dir = `jobs/${build.job.split('/').join('/jobs/')}/builds/${build.number}`;
  return (rel, kind) => rel !== dir && !rel.startsWith(`${dir}/`) && select(rel, kind);
}

/** Where splitJobPath's `rest` starts in `segs` (no empty segments); -1 when they name no job. */
function restIndex(segs: readonly string[]): number {
  let i = 0;
  while (i < segs.length && segs[i] === 'jobs' && i + 1 < segs.length) i += 2;
  return i === 0 ? -1 : i;
}

/**
 * Pure: the top-level names (`config.xml`, `plugins`) a migration with
 * `opts` leaves to the target's image that a same-image switch would copy.
 */
export function leftToImage(opts: MigrationSelection): (rel: string, kind: EntryKind) => string | null {
  const all = selectForMigration({ ...opts, imageOwned: false });
  const own = selectForMigration(opts);
  return (rel, kind) => (all(rel, kind) && !own(rel, kind) ? rel.split('/')[0] : null);
}

const BACKUP_EXCLUDED_TOP = new Set(['workspace', 'caches', '.cache', 'war', 'logs', 'tmp', '.java', '.groovy', 'plugins-tmp']);

/**
 * Pure: what a configuration backup keeps: the whole home (build history
 * included) minus workspaces, caches, logs, the unpacked war and the exploded
 * plugin directories Jenkins recreates from the .jpi files.
 */
export function selectForBackup(): (rel: string, kind: EntryKind) => boolean {
  return (rel, kind) => {
    if (kind === 'other') return false;
    const segs = rel.split('/');
    if (BACKUP_EXCLUDED_TOP.has(segs[0])) return false;
    if (segs[0] === 'plugins' && segs.length >= 2) return segs.length === 2 && kind !== 'directory';
    if (segs[0] === 'jobs') {
      const { rest } = splitJobPath(rel);
      if (rest[0] === 'workspace' || rest[0] === 'workspace@tmp') return false;
    }
    return !rel.endsWith('.tmp');
  };
}

/** What a migration copy did to a target home, from what it wrote and what the target held before. */
export interface CopyEffect {
  /** Copied files the target already had with other bytes. */
  overwrites: string[];
  /** Copied entries the target did not have. */
  adds: string[];
}

/** Pure: splits the copied entries into those that replaced something of the target's and those that are new. */
export function copyEffect(copied: ReadonlyArray<Pick<HomeEntry, 'path'> & { sha256?: string }>, before: readonly HomeEntry[]): CopyEffect {
  const had = new Map(before.map((e) => [e.path, e]));
  const overwrites: string[] = [];
  const adds: string[] = [];
  for (const c of copied) {
    const old = had.get(c.path);
    if (!old) adds.push(c.path);
    else if (old.kind !== 'directory' && (old.kind !== 'file' || old.sha256 !== c.sha256)) overwrites.push(c.path);
  }
  return { overwrites: overwrites.sort(), adds: adds.sort() };
}

/** How to bring a target home back to a saved state. */
export interface RestorePlan {
  /** Topmost paths that were not there (or were another kind of entry): removed whole. */
  remove: string[];
  /** Saved entries whose bytes, link or kind differ now: written back from the saved archive. */
  changed: string[];
  /** Saved entries that are gone now: written back from the saved archive. */
  missing: string[];
}

const sameEntry = (a: HomeEntry, b: HomeEntry): boolean =>
  a.kind === b.kind && (a.kind !== 'file' || a.sha256 === b.sha256) && (a.kind !== 'symlink' || a.linkname === b.linkname);

/** True when `path` lies inside one of the (sorted, topmost) directories already to be removed. */
const underAny = (path: string, dirs: readonly string[]): boolean => dirs.some((d) => path.startsWith(`${d}/`));

/**
 * Pure: compares a saved home listing with the current one (both of the same
 * selection). An empty plan means the target is back exactly as saved.
 * Removals are topmost-only: a new directory goes with everything in it, and an
 * entry that changed kind (a file where a directory was, or back) is removed so
 * the saved one can be written in its place.
 */
export function planRestore(saved: readonly HomeEntry[], now: readonly HomeEntry[]): RestorePlan {
  const before = new Map(saved.map((e) => [e.path, e]));
  const present = new Map(now.map((e) => [e.path, e]));
  const candidates = now.filter((e) => {
    const old = before.get(e.path);
    return !old || old.kind !== e.kind;
  }).map((e) => e.path).sort();
  const remove: string[] = [];
  for (const p of candidates) if (!underAny(p, remove)) remove.push(p);
  const changed: string[] = [];
  const missing: string[] = [];
  for (const e of saved) {
    const cur = present.get(e.path);
    if (!cur) missing.push(e.path);
    else if (!sameEntry(e, cur) || underAny(e.path, remove)) changed.push(e.path);
  }
  return { remove, changed: changed.sort(), missing: missing.sort() };
}

export const isRestored = (plan: RestorePlan): boolean => plan.remove.length === 0 && plan.changed.length === 0 && plan.missing.length === 0;

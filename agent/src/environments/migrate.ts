import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { coordinationNodeName } from '../../../catalog/coordination-node';
import { Transform } from 'node:stream';
import { filterArchive, type ArchiveFile, type ObservedEntry } from '../docker/archive';
import { packPaths } from '../docker/archive-paths';
import { JENKINS_HOME_IN_CONTAINER } from '../docker/container-spec';
import { dockerDown, inspectManaged, type ManagedContainer } from '../docker/containers';
import { isSidecarError, SidecarError } from '../sidecar-error';
import { sleep as realSleep } from '../sleep';
import { assessActivity, type ActivityVerdict } from '../jenkins/activity';
import type { JenkinsClient } from '../jenkins/client';
import { copyEffect, excludingBuild, imageOwnsConfiguration, leftToImage, selectForMigration, type MigrationOperation, type MigrationSelection } from '../jenkins/home-layout';
import { parseBuildRef } from '../jenkins/build-ref';
import type { EnvironmentStateStore, OperationContext } from '../store/contract';
import type { JenkinsClientFactory } from './controllers';
import { journaled, report, type StepJournal } from './journal-step';
import type { QueueHandoverResult, TriggerHandover } from '../traffic/queue-handover';
import { FIND_FORMAT, parseFindListing, planDelta, planDeltaFromChanges, type DeltaPlan, type ListedEntry } from './home-delta';
import { engineClockMs, listChangesSince } from './home-changes';
import { restartTarget, secretsTouched, type TargetRestart } from './target-restart';
import { DEFAULT_SNAPSHOT_DIR, discardSnapshot, execInContainer, manualRestoreCommands, removeFromHome, RestoreFailure, restoreTargetHome, saveTargetHome, snapshotPath, type SavedTarget } from './target-snapshot';

export interface MigrateDeps {
  docker: Docker;
  jenkinsFor: JenkinsClientFactory;
  journal?: StepJournal;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** How often the pre-copy reports bytes, files and rate (default every 2 s). */
  progressEveryMs?: number;
  /** Where the target's pre-copy state is saved (`<SIDECAR_DATA_DIR>/migrate-snapshots`); default the OS temp dir. */
  snapshotDir?: string;
  /** Once the target holds the migrated configuration: webhooks to it, the quieted source's queue handed to it. */
  triggers?: TriggerHandover;
  /** The sidecar's desired weights: a target that must restart (copied secrets/) is refused while it carries traffic. */
  environments?: Pick<EnvironmentStateStore, 'ensure'>;
}

export interface MigrateParams {
  source: EnvironmentName;
  target: EnvironmentName;
  timeoutSec: number;
  /** The build asking (`job/name#12`): it runs on the source and is not waited for. */
  callerBuild?: string;
  /** Build history goes with the jobs unless false. */
  includeBuilds?: boolean;
  includeWorkspaces?: boolean;
  /** What brought the target to its image (default switch): decides whether its image owns plugins and global configuration. */
  operation?: MigrationOperation;
  /** How long to wait for the target to come back from reload (default 120 s) or restart (default 300 s). */
  reloadTimeoutSec?: number;
  pollMs?: number;
}

export interface MigrateResult {
  jobs: number;
  jobNames: string[];
  files: number;
  bytes: number;
  waitedSec: number;
  copied: boolean;
  sourceQuietingDown: boolean;
  operation: MigrationOperation;
  /** True: the target kept its image's plugins and global configuration. */
  imageOwned: boolean;
  /** Top-level entries of the source (config.xml, plugins, ...) left to the target's image. */
  leftToImage: string[];
  includeBuilds: boolean;
  /** The first pass, while the source still built. */
  precopy: { files: number; bytes: number; sec: number };
  /** The second pass, with the source quiet: what changed since the first (removed = entries deleted from the target). */
  delta: { files: number; bytes: number; removed: number; sec: number };
  /** Builds could not start on the source for this long: quiet-down → target reloaded. */
  windowSec: number;
  /** False when the target already held every byte copied (nothing to reload), or when it was restarted instead. */
  reloaded: boolean;
  /** Where triggers went and which queued builds moved to the target (null: no trigger handover configured). */
  triggers?: QueueHandoverResult | null;
  /** restarted: true when the copy changed secrets/ and the target was restarted instead of reloaded (reason, the files). */
  restart: TargetRestart;
}

const HOME_PREFIX = JENKINS_HOME_IN_CONTAINER.split('/').pop() as string; // Docker's GET /archive names entries jenkins_home/...
const homeVolume = (c: ManagedContainer): string | null =>
  c.info.Mounts?.find((m) => m.Destination === JENKINS_HOME_IN_CONTAINER)?.Name ?? null;

async function requireRunning(docker: Docker, team: Team, env: EnvironmentName): Promise<ManagedContainer> {
  const c = await inspectManaged(docker, team.environments[env].container, team.team_name, env);
  if (!c || !c.running) {
    throw new SidecarError('NOT_FOUND', `${team.team_name}/${env} is not running (container ${team.environments[env].container}); deploy it first (environment.deploy target=${env})`, { team: team.team_name, environment: env });
  }
  return c;
}

/**
 * A container removed while the migration ran answers 404: that is NOT_FOUND
 * naming it (redeploy it), not a Docker engine outage.
 */
function containerError(action: string, container: string, label: string, err: unknown): SidecarError {
  const status = typeof err === 'object' && err !== null && 'statusCode' in err ? Number((err as { statusCode: unknown }).statusCode) : undefined;
  if (status === 404) {
    return new SidecarError('NOT_FOUND', `container ${container} of ${label} no longer exists (removed during the migration): ${action} failed; deploy it again (environment.deploy) and retry`, { action, container }, { cause: err });
  }
  return dockerDown(action, err);
}

/** Polls until the source is idle apart from the caller; TIMEOUT naming what still runs. */
async function waitForIdle(deps: MigrateDeps, src: JenkinsClient, params: MigrateParams, label: string, ctx?: OperationContext): Promise<number> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const pollMs = params.pollMs ?? 1000;
  const start = now();
  const deadline = start + params.timeoutSec * 1000;
  let last: ActivityVerdict = { idle: false, running: [], queued: [] };
  let lastText = '';
  const maxPolls = Math.ceil((params.timeoutSec * 1000) / pollMs) + 2;
  for (let i = 0; i < maxPolls; i++) {
    if (ctx?.signal.aborted) throw new SidecarError('TIMEOUT', `state.migrate was aborted while waiting for ${label} to go idle`, {});
    const seen = await Promise.all([src.computers(), src.queue()]).catch((err: unknown) => {
      // 503 while the source reloads (someone pressed "Reload Configuration from Disk"): not idle yet, ask again.
      if ((err as SidecarError).data?.reason === 'unavailable') return null;
      throw err;
    });
    if (seen) last = assessActivity(seen[0], seen[1], params.callerBuild, { queueHandedOver: !!deps.triggers });
    if (seen && last.idle) return (now() - start) / 1000;
    const text = `running: ${last.running.join(', ') || 'none'}; queued: ${last.queued.join(', ') || 'none'}`;
    if (text !== lastText) report(ctx, 'drain', `waiting for ${label} to go idle (${text})`, { running: last.running, queued: last.queued });
    lastText = text;
    if (now() >= deadline) break;
    await sleep(Math.min(pollMs, Math.max(0, deadline - now())));
  }
  throw new SidecarError(
    'TIMEOUT',
    `${label} did not go idle within ${params.timeoutSec}s: still running ${last.running.join(', ') || 'nothing'}, queued ${last.queued.join(', ') || 'nothing'}; ` +
      `let them finish or abort them, then retry. Quiet-down on ${label} was cancelled.`,
    { running: last.running, queued: last.queued, timeoutSec: params.timeoutSec },
  );
}

async function waitForReload(deps: MigrateDeps, dst: JenkinsClient, timeoutSec: number): Promise<void> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const deadline = now() + timeoutSec * 1000;
  let lastErr: unknown = null;
  for (let i = 0; i < timeoutSec * 4 + 2; i++) {
    try {
      await dst.root();
      return;
    } catch (err) {
      const reason = (err as SidecarError).data?.reason;
      if (reason !== 'unavailable' && reason !== 'unreachable' && reason !== 'timeout') throw err;
      lastErr = err;
    }
    if (now() >= deadline) break;
    await sleep(250);
  }
  throw new SidecarError('TIMEOUT', `${dst.label} did not come back from reload within ${timeoutSec}s: ${(lastErr as Error)?.message ?? 'no answer'}`, {});
}

/** What every phase of one migration needs. */
interface Scope {
  deps: MigrateDeps;
  params: MigrateParams;
  ctx?: OperationContext;
  srcC: ManagedContainer;
  dstC: ManagedContainer;
  src: JenkinsClient;
  dst: JenkinsClient;
  srcLabel: string;
  dstLabel: string;
  operation: MigrationOperation;
  selection: MigrationSelection;
  select: ReturnType<typeof selectForMigration>;
}

interface PreCopy {
  files: number;
  bytes: number;
  sec: number;
  /** What went into the target, by tar header: the delta is what differs from it. */
  manifest: Map<string, ObservedEntry>;
  /** Files modified from this second on are copied again by the delta. */
  racySinceSec: number;
  leftToImage: string[];
  /** False when every copied entry was already on the target with the same bytes. */
  changedTarget: boolean;
  /** sha256 of each file the pre-copy wrote: a delta file with the same bytes changes nothing. */
  digests: Map<string, string>;
  /** Entries under secrets/ the pre-copy added or overwrote with other bytes. */
  secrets: string[];
  /** Entries whose status changed after this second (Docker host clock) may differ from the copy; null: list the whole home. */
  changesSinceSec: number | null;
}

const PROGRESS_EVERY_MS = 2_000;
const round1 = (n: number): number => Math.round(n * 10) / 10;
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);

/** Counts the bytes going to the target and reports them with files and rate every few seconds. */
function progressTap(s: Scope, counted: { files: number }, now: () => number): Transform {
  const start = now();
  let bytes = 0;
  let last = start;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      const t = now();
      if (t - last >= (s.deps.progressEveryMs ?? PROGRESS_EVERY_MS)) {
        last = t;
        const rate = bytes / 1e6 / Math.max(0.001, (t - start) / 1000);
        report(s.ctx, 'precopy', `pre-copy ${s.srcLabel} → ${s.dstLabel} (source still building): ${mb(bytes)} MB, ${counted.files} files, ${rate.toFixed(1)} MB/s`, { bytes, files: counted.files, rateMBps: round1(rate) });
      }
      cb(null, chunk);
    },
  });
}

/**
 * The first pass, while the source still runs: its selection streamed into the
 * target through the archive API (journaled as copy_configuration, so recovery
 * restores the target after a crash from here on).
 */
async function preCopy(s: Scope, snapshot: SavedTarget): Promise<PreCopy> {
  const now = s.deps.now ?? Date.now;
  const leftOut = new Set<string>();
  const ownedByImage = leftToImage(s.selection);
  const manifest = new Map<string, ObservedEntry>();
  const digests = new Map<string, string>();
  const counted = { files: 0 };
  const copySelect = (rel: string, kind: Parameters<typeof s.select>[1]): boolean => {
    const left = ownedByImage(rel, kind);
    if (left) leftOut.add(left);
    return s.select(rel, kind);
  };
  // Before the first byte is read: whatever changes from here on has a later ctime (home-changes.ts). Two seconds of margin for the engine's answer.
  const engineMs = await engineClockMs(s.deps.docker);
  const changesSinceSec = engineMs === null ? null : Math.floor(engineMs / 1000) - 2;
  const t0 = now();
  const racySinceSec = Math.floor(t0 / 1000) - 1;
  const r = await journaled(
    s.deps.journal,
    s.ctx,
    'copy_configuration',
    { from: homeVolume(s.srcC), to: homeVolume(s.dstC), pass: 'precopy', operation: s.operation, ...s.selection },
    async () => {
      // Said once the intent is in the journal: whoever sees this line (and kills the sidecar) leaves a journal that names the copy.
      report(s.ctx, 'copy', `pre-copying configuration state and history ${s.srcLabel} → ${s.dstLabel} while ${s.srcLabel} keeps building`);
      let archive: NodeJS.ReadableStream;
      try {
        archive = await s.deps.docker.getContainer(s.srcC.id).getArchive({ path: JENKINS_HOME_IN_CONTAINER });
      } catch (err) {
        throw containerError(`read ${JENKINS_HOME_IN_CONTAINER} of ${s.srcC.name}`, s.srcC.name, s.srcLabel, err);
      }
      const filtered = filterArchive(archive, HOME_PREFIX, copySelect, (e) => {
        manifest.set(e.path, e);
        if (e.kind === 'file') counted.files += 1;
      });
      try {
        await s.deps.docker.getContainer(s.dstC.id).putArchive(filtered.stream.pipe(progressTap(s, counted, now)), { path: JENKINS_HOME_IN_CONTAINER });
      } catch (err) {
        throw containerError(`write ${JENKINS_HOME_IN_CONTAINER} of ${s.dstC.name}`, s.dstC.name, s.dstLabel, err);
      }
      const list = await filtered.files;
      const effect = copyEffect(list, snapshot.entries);
      for (const f of list) digests.set(f.path, f.sha256);
      const secrets = secretsTouched([...effect.overwrites, ...effect.adds]);
      return { files: list.length, bytes: list.reduce((n, f) => n + f.size, 0), overwrote: effect.overwrites.length, added: effect.adds.length, leftToImage: [...leftOut].sort(), secrets };
    },
    (v) => v,
  );
  const sec = (now() - t0) / 1000;
  report(s.ctx, 'copied', `pre-copied ${r.files} files (${mb(r.bytes)} MB) into ${s.dstLabel} in ${sec.toFixed(1)}s: ${r.overwrote} replaced files it had, ${r.added} entries are new`, { files: r.files, bytes: r.bytes, overwrote: r.overwrote, added: r.added });
  return { files: r.files, bytes: r.bytes, sec, manifest, digests, racySinceSec, leftToImage: r.leftToImage, changedTarget: r.overwrote + r.added > 0, secrets: r.secrets, changesSinceSec };
}

/** The selected entries of a container's home by size and mtime (`find`, no contents read). */
export async function listHome(docker: Docker, c: Pick<ManagedContainer, 'id' | 'name'>, select: ReturnType<typeof selectForMigration>): Promise<ListedEntry[]> {
  let listing: Buffer;
  try {
    listing = await execInContainer(docker, c.id, ['find', JENKINS_HOME_IN_CONTAINER, '-printf', FIND_FORMAT]);
  } catch (err) {
    throw new SidecarError('DEPENDENCY_DOWN', `could not list ${JENKINS_HOME_IN_CONTAINER} of ${c.name} (find): ${(err as Error).message}`, { container: c.name }, { cause: err });
  }
  return parseFindListing(listing).filter((e) => select(e.path, e.kind));
}

/** Every listed entry at or below one of `roots`, in listing order (parents first, as find lists them). */
function entriesUnder(listing: readonly ListedEntry[], roots: readonly string[]): string[] {
  const set = new Set(roots);
  return listing
    .filter((e) => {
      for (let p = e.path; p; p = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '') if (set.has(p)) return true;
      return false;
    })
    .map((e) => e.path);
}

interface Delta {
  files: number;
  bytes: number;
  removed: number;
  sec: number;
  /** False when the delta only wrote files again with the bytes the pre-copy had written. */
  changedTarget: boolean;
  /** Entries under secrets/ the delta wrote with new bytes or removed. */
  secrets: string[];
}

/**
 * What to copy in the second pass. Only what changed since the pre-copy is
 * listed (home-changes.ts); when that cannot be done (the engine gave no
 * clock, or the source's find lacks -newerct), the whole selection is listed
 * and compared, as correct and slower, and the progress line says so.
 */
async function listDelta(s: Scope, pre: PreCopy): Promise<{ current: ListedEntry[]; plan: DeltaPlan; listed: string }> {
  if (pre.changesSinceSec !== null) {
    const view = await listChangesSince(s.deps.docker, s.srcC.id, s.select, pre.manifest, pre.changesSinceSec).catch((err: unknown) => {
      report(s.ctx, 'delta_listing', `could not list only what changed on ${s.srcLabel} (${(err as Error).message}); listing all of it`);
      return null;
    });
    if (view) return { current: view.entries, plan: planDeltaFromChanges(pre.manifest, view, pre.racySinceSec), listed: `${view.entries.length} entries listed as possibly changed` };
  }
  const current = await listHome(s.deps.docker, s.srcC, s.select);
  return { current, plan: planDelta(pre.manifest, current, pre.racySinceSec), listed: `all ${current.length} entries listed` };
}

/**
 * The second pass, with the source quiet and idle: `find` lists what of its
 * home changed since the pre-copy (sizes and mtimes, no contents; listDelta), what differs from the pre-copy's manifest
 * is read path by path and written in one upload, what it no longer has is
 * removed from the target (journaled as copy_delta).
 */
async function copyDelta(s: Scope, pre: PreCopy): Promise<Delta> {
  const now = s.deps.now ?? Date.now;
  const t0 = now();
  // The target may have been removed while the source drained: say so before reading anything.
  await s.deps.docker.getContainer(s.dstC.id).inspect().catch((err: unknown) => Promise.reject(containerError(`write the delta into ${JENKINS_HOME_IN_CONTAINER} of ${s.dstC.name}`, s.dstC.name, s.dstLabel, err)));
  const { current, plan, listed } = await listDelta(s, pre);
  report(s.ctx, 'delta', `copying what changed on ${s.srcLabel} since the pre-copy: ${plan.files} files (${mb(plan.bytes)} MB) in ${plan.fetch.length} paths, ${plan.remove.length} removed (${listed})`, { files: plan.files, bytes: plan.bytes, paths: plan.fetch.length, removed: plan.remove.length });
  const r = await journaled(
    s.deps.journal,
    s.ctx,
    'copy_delta',
    { environment: s.params.target, paths: plan.fetch.length, remove: plan.remove.slice(0, 200) },
    async () => {
      if (plan.remove.length) await removeFromHome(s.deps.docker, s.dstC.id, plan.remove).catch((err: unknown) => Promise.reject(containerError(`remove ${plan.remove.length} entries from ${s.dstC.name}`, s.dstC.name, s.dstLabel, err)));
      let files: ArchiveFile[] = [];
      if (plan.fetch.length) {
        const packed = packPaths(s.deps.docker, s.srcC.id, JENKINS_HOME_IN_CONTAINER, entriesUnder(current, plan.fetch), s.select);
        try {
          await s.deps.docker.getContainer(s.dstC.id).putArchive(packed.stream, { path: JENKINS_HOME_IN_CONTAINER });
        } catch (err) {
          throw containerError(`write the delta into ${JENKINS_HOME_IN_CONTAINER} of ${s.dstC.name}`, s.dstC.name, s.dstLabel, err);
        }
        files = await packed.files;
      }
      const rewritten = files.filter((f) => pre.digests.get(f.path) !== f.sha256).map((f) => f.path);
      const changedTarget = plan.remove.length > 0 || rewritten.length > 0;
      return { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0), removed: plan.remove.length, changedTarget, secrets: secretsTouched([...rewritten, ...plan.remove]) };
    },
    (v) => v,
  );
  return { ...r, sec: (now() - t0) / 1000 };
}

async function reloadAndVerify(s: Scope, onReloadAsked: () => void): Promise<number> {
  report(s.ctx, 'reload', `asking ${s.dstLabel} to reload configuration from disk`);
  await journaled(s.deps.journal, s.ctx, 'reload_target', { environment: s.params.target }, async () => {
    onReloadAsked();
    await s.dst.reload();
    await waitForReload(s.deps, s.dst, s.params.reloadTimeoutSec ?? 120);
  });
  return (s.deps.now ?? Date.now)();
}

async function verifyJobs(s: Scope): Promise<string[]> {
  const [srcJobs, dstJobs] = await Promise.all([s.src.listJobs(), s.dst.listJobs()]);
  const have = new Set(dstJobs.map((j) => j.fullName));
  const missing = srcJobs.filter((j) => !have.has(j.fullName)).map((j) => j.fullName);
  if (missing.length) {
    throw new SidecarError('CONFLICT', `after the copy and reload ${s.dstLabel} lacks ${missing.length} job(s) of ${s.srcLabel}: ${missing.slice(0, 10).join(', ')}; check its logs for load errors`, { reason: 'jobs_missing', missing });
  }
  return srcJobs.map((j) => j.fullName);
}

async function snapshotTarget(s: Scope): Promise<SavedTarget> {
  const archivePath = snapshotPath(s.deps.snapshotDir ?? DEFAULT_SNAPSHOT_DIR, s.ctx?.operation.id ?? `adhoc-${randomBytes(4).toString('hex')}`, s.params.target);
  report(s.ctx, 'snapshot', `saving what the copy can overwrite in ${s.dstLabel} to ${archivePath}`, { archive: archivePath });
  return journaled(
    s.deps.journal,
    s.ctx,
    'snapshot_target',
    { environment: s.params.target, container: s.dstC.name, archive: archivePath, ...s.selection },
    async () => {
      try {
        return await saveTargetHome(s.deps.docker, s.dstC.id, s.select, archivePath);
      } catch (err) {
        await discardSnapshot(archivePath).catch(() => undefined);
        throw containerError(`save ${JENKINS_HOME_IN_CONTAINER} of ${s.dstC.name} before the copy`, s.dstC.name, s.dstLabel, err);
      }
    },
    (v) => ({ archive: v.archive, entries: v.entries.length, files: v.files, bytes: v.bytes }),
  );
}

async function quietAndDrain(s: Scope): Promise<number> {
  report(s.ctx, 'quiet_down', `quieting down ${s.srcLabel}`);
  await journaled(s.deps.journal, s.ctx, 'quiet_down_source', { environment: s.params.source }, () => s.src.quietDown(`state migration to ${s.params.target}`));
  const waitedSec = await waitForIdle(s.deps, s.src, s.params, s.srcLabel, s.ctx);
  report(s.ctx, 'drained', `${s.srcLabel} is idle after ${Math.round(waitedSec)}s`, { waitedSec });
  return waitedSec;
}

async function scopeOf(deps: MigrateDeps, team: Team, params: MigrateParams, ctx?: OperationContext): Promise<Scope> {
  const srcC = await requireRunning(deps.docker, team, params.source);
  const dstC = await requireRunning(deps.docker, team, params.target);
  const operation = params.operation ?? 'switch';
  const selection: MigrationSelection = { includeBuilds: params.includeBuilds !== false, includeWorkspaces: !!params.includeWorkspaces, imageOwned: imageOwnsConfiguration(operation, srcC.info.Image === dstC.info.Image), ownNodes: [coordinationNodeName(team)] };
  return {
    deps,
    params,
    ctx,
    srcC,
    dstC,
    src: deps.jenkinsFor(team, params.source),
    dst: deps.jenkinsFor(team, params.target),
    srcLabel: `${team.team_name}/${params.source}`,
    dstLabel: `${team.team_name}/${params.target}`,
    operation,
    selection,
    select: excludingBuild(selectForMigration(selection), params.callerBuild ? parseBuildRef(params.callerBuild) : null),
  };
}

/**
 * state.migrate, in two passes like a live migration. While the source still
 * builds, its selection (what its home owns; see selectForMigration) is
 * copied into the target. Then the source is quieted down and drained, and
 * only what changed since (size and mtime from `find`, deletions too) is
 * copied; the target is reloaded and must list every job the source has.
 * Builds are blocked for the drain, the delta and the reload: the window
 * grows with what changed, not with the home. On success the source stays
 * quieting down (traffic is leaving it).
 * When the copy changed anything under secrets/, the target is restarted
 * instead of reloaded (a running Jenkins keeps the master key it started
 * with; target-restart.ts), and never while it carries traffic.
 *
 * Before the first pass writes into the target, the part of the target's home
 * the copy can overwrite is saved to a tar file; any failure after that puts
 * the target back exactly (entries the copy added removed, overwritten ones
 * written back, checked by digest) before a quiet-down it set is cancelled.
 * The error says whether the target was untouched, restored, or (loudly)
 * could not be restored and how to do it by hand.
 */
export async function migrateState(deps: MigrateDeps, team: Team, params: MigrateParams, ctx?: OperationContext): Promise<MigrateResult> {
  if (params.source === params.target) {
    throw new SidecarError('CONFLICT', `state.migrate: source and target are both ${params.source}; name two different environments`, { reason: 'same_environment' });
  }
  const s = await scopeOf(deps, team, params, ctx);
  const now = deps.now ?? Date.now;
  const copied = !srcVolumeShared(s.srcC, s.dstC);
  let saved: SavedTarget | null = null; // set once the target's state is on disk: from here on a failure restores it
  let quieted = false;
  let reloadAsked = false;
  let restartAsked = false;
  try {
    let pre: PreCopy | null = null;
    if (copied) {
      saved = await snapshotTarget(s);
      pre = await preCopy(s, saved);
    }
    const windowStart = now();
    quieted = true; // the intent is journaled before the call: a failure from here on lifts it
    const waitedSec = await quietAndDrain(s);
    const delta = pre ? await copyDelta(s, pre) : { files: 0, bytes: 0, removed: 0, sec: 0, changedTarget: false, secrets: [] };
    // A target whose disk already held every byte (it was brought up to date before, e.g. before it got traffic) is not reloaded: a reload would change nothing and answer 503 meanwhile.
    const reload = !pre || pre.changedTarget || delta.changedTarget;
    const changedSecrets = secretsTouched([...(pre?.secrets ?? []), ...delta.secrets]);
    // Copied secrets/ are read only by a Jenkins that starts on them (see target-restart.ts): restart, not reload.
    const restart: TargetRestart = changedSecrets.length
      ? await restartTarget({ docker: deps.docker, team, dstC: s.dstC, dst: s.dst, dstLabel: s.dstLabel, journal: deps.journal, environments: deps.environments, timeoutSec: params.reloadTimeoutSec ?? 300, ctx, now }, changedSecrets, () => (restartAsked = true))
      : { restarted: false, reason: null, secrets: [], sec: 0 };
    const reloadedAt = reload && !restart.restarted ? await reloadAndVerify(s, () => (reloadAsked = true)) : now();
    if (!reload) report(ctx, 'reload_skipped', `${s.dstLabel} already held everything ${s.srcLabel} has: not reloaded`);
    const jobNames = await verifyJobs(s);
    if (saved) {
      const archive = saved.archive;
      await journaled(deps.journal, ctx, 'discard_target_snapshot', { environment: params.target, archive }, () => discardSnapshot(archive));
    }
    const windowSec = (reloadedAt - windowStart) / 1000;
    const triggers = deps.triggers ? await deps.triggers.moveTo(team, params.source, params.target, ctx) : null;
    report(ctx, 'done', `${s.dstLabel} lists all ${jobNames.length} items of ${s.srcLabel}; builds were blocked for ${windowSec.toFixed(1)}s (drain ${waitedSec.toFixed(1)}s, delta of ${delta.files} files in ${delta.sec.toFixed(1)}s, ${restart.restarted ? 'restart' : 'reload'})`, { windowSec: round1(windowSec) });
    return {
      jobs: jobNames.length,
      jobNames,
      files: (pre?.files ?? 0) + delta.files,
      bytes: (pre?.bytes ?? 0) + delta.bytes,
      waitedSec: round1(waitedSec),
      copied,
      sourceQuietingDown: true,
      operation: s.operation,
      imageOwned: !!s.selection.imageOwned,
      leftToImage: pre?.leftToImage ?? [],
      includeBuilds: s.selection.includeBuilds !== false,
      precopy: { files: pre?.files ?? 0, bytes: pre?.bytes ?? 0, sec: round1(pre?.sec ?? 0) },
      delta: { files: delta.files, bytes: delta.bytes, removed: delta.removed, sec: round1(delta.sec) },
      windowSec: round1(windowSec),
      reloaded: reload && !restart.restarted,
      restart,
      triggers,
    };
  } catch (err) {
    let failure: unknown = err;
    if (saved) {
      failure = await restoreAfterFailure(deps, { dstC: s.dstC, dst: s.dst, dstLabel: s.dstLabel, srcLabel: s.srcLabel, target: params.target, saved, select: s.select, reloadAsked, restartAsked }, err, ctx);
    } else if (copied) {
      failure = withTargetNote(err, `${s.dstLabel} was not touched (the migration failed before the copy)`, { targetTouched: false });
    }
    if (quieted) {
      report(ctx, 'cancel_quiet_down', `migration failed; cancelling quiet-down on ${s.srcLabel}`);
      await journaled(deps.journal, ctx, 'cancel_quiet_down_source', { environment: params.source }, () => s.src.cancelQuietDown()).catch(() => undefined);
    }
    throw failure;
  }
}

const srcVolumeShared = (a: ManagedContainer, b: ManagedContainer): boolean => {
  const v = homeVolume(a);
  return !!v && v === homeVolume(b);
};

/** The original failure, with what became of the target appended to its message and data. */
function withTargetNote(err: unknown, note: string, data: Record<string, unknown>): unknown {
  if (isSidecarError(err)) return SidecarError.withCode(err.code, `${err.message}; ${note}`, { ...err.data, ...data }, { cause: err, outcome: err.outcome });
  if (err instanceof Error) {
    err.message = `${err.message}; ${note}`; // not a domain error: still the caller's only account of the target
    return err;
  }
  return new Error(`${String(err)}; ${note}`);
}

interface RestoreScope {
  dstC: ManagedContainer;
  dst: JenkinsClient;
  dstLabel: string;
  srcLabel: string;
  target: EnvironmentName;
  saved: SavedTarget;
  select: ReturnType<typeof selectForMigration>;
  reloadAsked: boolean;
  /** The target was restarted on the copied secrets/: it is restarted again on the restored ones. */
  restartAsked: boolean;
}

/**
 * Puts the target back after a failure that came once the copy could have
 * written into it (journaled as restore_target). A target that had already
 * been asked to reload holds the copied jobs in memory: it is asked to reload
 * again from the restored disk, best effort (it may be the thing that failed).
 */
async function restoreAfterFailure(deps: MigrateDeps, s: RestoreScope, err: unknown, ctx?: OperationContext): Promise<unknown> {
  const archive = s.saved.archive;
  report(ctx, 'restore_target', `migration failed after the copy started; restoring ${s.dstLabel} from ${archive}`, { archive });
  try {
    const r = await journaled(
      deps.journal,
      ctx,
      'restore_target',
      { environment: s.target, container: s.dstC.name, archive },
      () => restoreTargetHome(deps.docker, s.dstC.id, s.select, archive, s.saved.entries),
      (v) => ({ removed: v.removed.length, rewritten: v.rewritten, verified: true }),
    );
    await discardSnapshot(archive).catch(() => undefined);
    let reload = '';
    if (s.restartAsked) {
      reload = await deps.docker.getContainer(s.dstC.id).restart({ t: 30 }).then(
        () => '; it was restarted on the restored disk (its master key is read at start)',
        (e: unknown) => `; it had started on the copied secrets/ and could not be restarted (${(e as Error)?.message ?? String(e)}): restart it (docker restart ${s.dstC.name})`,
      );
    } else if (s.reloadAsked) {
      reload = await s.dst.reload().then(
        () => '; it was asked to reload from the restored disk',
        (e: unknown) => `; it had loaded the copied configuration and did not accept a reload (${(e as Error)?.message ?? String(e)}): reload or restart it`,
      );
    }
    const note = `${s.dstLabel} was restored to its state before the copy (${r.removed.length} added entries removed, ${r.rewritten} overwritten files written back, checked by digest)${reload}`;
    report(ctx, 'target_restored', note, { removed: r.removed.length, rewritten: r.rewritten });
    return withTargetNote(err, note, { targetRestored: true });
  } catch (restoreErr) {
    const added = restoreErr instanceof RestoreFailure ? restoreErr.added : [];
    const why = (restoreErr as Error)?.message ?? String(restoreErr);
    const note =
      `RESTORING ${s.dstLabel} FAILED (${why}): its ${JENKINS_HOME_IN_CONTAINER} (container ${s.dstC.name}) still holds part or all of the copy from ${s.srcLabel}; ` +
      `its state before the copy is kept in ${archive} on the sidecar host. Put it back by hand: ${manualRestoreCommands(s.dstC.name, archive, added)}`;
    report(ctx, 'restore_failed', note, { archive });
    return withTargetNote(err, note, { targetRestored: false, targetArchive: archive, restoreError: why, addedByCopy: added.slice(0, 200) });
  }
}

import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { filterArchive } from '../docker/archive';
import { JENKINS_HOME_IN_CONTAINER } from '../docker/container-spec';
import { dockerDown, inspectManaged, type ManagedContainer } from '../docker/containers';
import { isSidecarError, SidecarError } from '../errors/sidecar-error';
import { assessActivity, type ActivityVerdict } from '../jenkins/activity';
import type { JenkinsClient } from '../jenkins/client';
import { copyEffect, selectForMigration } from '../jenkins/home-layout';
import type { OperationContext } from '../store/contract';
import type { JenkinsClientFactory } from './controllers';
import { journaled, report, type StepJournal } from './journal-step';
import { DEFAULT_SNAPSHOT_DIR, discardSnapshot, manualRestoreCommands, RestoreFailure, restoreTargetHome, saveTargetHome, snapshotPath, type SavedTarget } from './target-snapshot';

export interface MigrateDeps {
  docker: Docker;
  jenkinsFor: JenkinsClientFactory;
  journal?: StepJournal;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Where the target's pre-copy state is saved (`<SIDECAR_DATA_DIR>/migrate-snapshots`); default the OS temp dir. */
  snapshotDir?: string;
}

export interface MigrateParams {
  source: EnvironmentName;
  target: EnvironmentName;
  timeoutSec: number;
  /** The build asking (`job/name#12`): it runs on the source and is not waited for. */
  callerBuild?: string;
  includeBuilds?: boolean;
  includeWorkspaces?: boolean;
  /** How long to wait for the target to come back from reload. */
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
}

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
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const pollMs = params.pollMs ?? 1000;
  const start = now();
  const deadline = start + params.timeoutSec * 1000;
  let last: ActivityVerdict = { idle: false, running: [], queued: [] };
  let lastText = '';
  const maxPolls = Math.ceil((params.timeoutSec * 1000) / pollMs) + 2;
  for (let i = 0; i < maxPolls; i++) {
    if (ctx?.signal.aborted) throw new SidecarError('TIMEOUT', `state.migrate was aborted while waiting for ${label} to go idle`, {});
    last = assessActivity(await src.computers(), await src.queue(), params.callerBuild);
    if (last.idle) return (now() - start) / 1000;
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
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
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

/**
 * state.migrate: quiet down the source, wait until it is idle (the calling
 * build excepted), copy configuration state from the source's volume into the
 * target's through Docker's archive API, reload the target and check it lists
 * every job the source has. Any failure cancels the quiet-down on the source.
 * On success the source stays quieting down: traffic is moving away from it.
 *
 * Before the copy writes into the target, the part of the target's home the
 * copy can overwrite (the same selection) is saved to a tar file; a failure
 * after the copy started puts the target back exactly (entries the copy added
 * removed, overwritten ones written back, checked by digest) before the
 * quiet-down is cancelled. The error says whether the target was untouched,
 * restored, or (loudly) could not be restored and how to do it by hand.
 */
export async function migrateState(deps: MigrateDeps, team: Team, params: MigrateParams, ctx?: OperationContext): Promise<MigrateResult> {
  if (params.source === params.target) {
    throw new SidecarError('CONFLICT', `state.migrate: source and target are both ${params.source}; name two different environments`, {});
  }
  const srcLabel = `${team.team_name}/${params.source}`;
  const dstLabel = `${team.team_name}/${params.target}`;
  const srcC = await requireRunning(deps.docker, team, params.source);
  const dstC = await requireRunning(deps.docker, team, params.target);
  const src = deps.jenkinsFor(team, params.source);
  const dst = deps.jenkinsFor(team, params.target);

  const select = selectForMigration(params);
  let saved: SavedTarget | null = null; // set once the target's state is on disk: from here on a failure restores it
  let reloadAsked = false;
  report(ctx, 'quiet_down', `quieting down ${srcLabel}`);
  await journaled(deps.journal, ctx, 'quiet_down_source', { environment: params.source }, () => src.quietDown(`state migration to ${params.target}`));
  try {
    const waitedSec = await waitForIdle(deps, src, params, srcLabel, ctx);
    report(ctx, 'drained', `${srcLabel} is idle after ${Math.round(waitedSec)}s`, { waitedSec });

    const srcVolume = homeVolume(srcC);
    const dstVolume = homeVolume(dstC);
    let files = 0;
    let bytes = 0;
    const copied = !(srcVolume && srcVolume === dstVolume);
    if (copied) {
      const archivePath = snapshotPath(deps.snapshotDir ?? DEFAULT_SNAPSHOT_DIR, ctx?.operation.id ?? `adhoc-${randomBytes(4).toString('hex')}`, params.target);
      report(ctx, 'snapshot', `saving what the copy can overwrite in ${dstLabel} to ${archivePath}`, { archive: archivePath });
      const snapshot = await journaled(
        deps.journal,
        ctx,
        'snapshot_target',
        { environment: params.target, container: dstC.name, archive: archivePath, includeBuilds: !!params.includeBuilds, includeWorkspaces: !!params.includeWorkspaces },
        async () => {
          try {
            return await saveTargetHome(deps.docker, dstC.id, select, archivePath);
          } catch (err) {
            await discardSnapshot(archivePath).catch(() => undefined);
            throw containerError(`save ${JENKINS_HOME_IN_CONTAINER} of ${dstC.name} before the copy`, dstC.name, dstLabel, err);
          }
        },
        (v) => ({ archive: v.archive, entries: v.entries.length, files: v.files, bytes: v.bytes }),
      );
      saved = snapshot;
      report(ctx, 'copy', `copying configuration state ${srcLabel} → ${dstLabel}`);
      const r = await journaled(
        deps.journal,
        ctx,
        'copy_configuration',
        { from: srcVolume, to: dstVolume, includeBuilds: !!params.includeBuilds, includeWorkspaces: !!params.includeWorkspaces },
        async () => {
          let archive: NodeJS.ReadableStream;
          try {
            archive = await deps.docker.getContainer(srcC.id).getArchive({ path: JENKINS_HOME_IN_CONTAINER });
          } catch (err) {
            throw containerError(`read ${JENKINS_HOME_IN_CONTAINER} of ${srcC.name}`, srcC.name, srcLabel, err);
          }
          const prefix = JENKINS_HOME_IN_CONTAINER.split('/').pop() as string; // entries come as jenkins_home/...
          const filtered = filterArchive(archive, prefix, select);
          try {
            await deps.docker.getContainer(dstC.id).putArchive(filtered.stream, { path: JENKINS_HOME_IN_CONTAINER });
          } catch (err) {
            throw containerError(`write ${JENKINS_HOME_IN_CONTAINER} of ${dstC.name}`, dstC.name, dstLabel, err);
          }
          const list = await filtered.files;
          const effect = copyEffect(list, snapshot.entries);
          return { files: list.length, bytes: list.reduce((n, f) => n + f.size, 0), overwrote: effect.overwrites.length, added: effect.adds.length };
        },
        (v) => v,
      );
      files = r.files;
      bytes = r.bytes;
      report(ctx, 'copied', `copied ${r.files} files into ${dstLabel}: ${r.overwrote} replaced files it had, ${r.added} entries are new`, { files: r.files, overwrote: r.overwrote, added: r.added });
    }
    report(ctx, 'reload', `asking ${dstLabel} to reload configuration from disk`);
    await journaled(deps.journal, ctx, 'reload_target', { environment: params.target }, async () => {
      reloadAsked = true;
      await dst.reload();
      await waitForReload(deps, dst, params.reloadTimeoutSec ?? 120);
    });
    const [srcJobs, dstJobs] = await Promise.all([src.listJobs(), dst.listJobs()]);
    const have = new Set(dstJobs.map((j) => j.fullName));
    const missing = srcJobs.filter((j) => !have.has(j.fullName)).map((j) => j.fullName);
    if (missing.length) {
      throw new SidecarError('CONFLICT', `after the copy and reload ${dstLabel} lacks ${missing.length} job(s) of ${srcLabel}: ${missing.slice(0, 10).join(', ')}; check its logs for load errors`, { missing });
    }
    if (saved) {
      const archive = saved.archive;
      await journaled(deps.journal, ctx, 'discard_target_snapshot', { environment: params.target, archive }, () => discardSnapshot(archive));
    }
    report(ctx, 'done', `${dstLabel} lists all ${srcJobs.length} items of ${srcLabel}`);
    return { jobs: srcJobs.length, jobNames: srcJobs.map((j) => j.fullName), files, bytes, waitedSec: Math.round(waitedSec * 10) / 10, copied, sourceQuietingDown: true };
  } catch (err) {
    let failure: unknown = err;
    if (saved) {
      failure = await restoreAfterFailure(deps, { dstC, dst, dstLabel, srcLabel, target: params.target, saved, select, reloadAsked }, err, ctx);
    } else if (srcVolumeShared(srcC, dstC)) {
      failure = err;
    } else {
      failure = withTargetNote(err, `${dstLabel} was not touched (the migration failed before the copy)`, { targetTouched: false });
    }
    report(ctx, 'cancel_quiet_down', `migration failed; cancelling quiet-down on ${srcLabel}`);
    await journaled(deps.journal, ctx, 'cancel_quiet_down_source', { environment: params.source }, () => src.cancelQuietDown()).catch(() => undefined);
    throw failure;
  }
}

const srcVolumeShared = (a: ManagedContainer, b: ManagedContainer): boolean => {
  const v = homeVolume(a);
  return !!v && v === homeVolume(b);
};

/** The original failure, with what became of the target appended to its message and data. */
function withTargetNote(err: unknown, note: string, data: Record<string, unknown>): unknown {
  if (isSidecarError(err)) return new SidecarError(err.code, `${err.message}; ${note}`, { ...err.data, ...data }, { cause: err });
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
    if (s.reloadAsked) {
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

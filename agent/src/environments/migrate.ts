import type Docker from 'dockerode';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { filterArchive } from '../docker/archive';
import { JENKINS_HOME_IN_CONTAINER } from '../docker/container-spec';
import { dockerDown, inspectManaged, type ManagedContainer } from '../docker/containers';
import { SidecarError } from '../errors/sidecar-error';
import { assessActivity, type ActivityVerdict } from '../jenkins/activity';
import type { JenkinsClient } from '../jenkins/client';
import { selectForMigration } from '../jenkins/home-layout';
import type { OperationContext } from '../store/contract';
import type { JenkinsClientFactory } from './controllers';
import { journaled, report, type StepJournal } from './journal-step';

export interface MigrateDeps {
  docker: Docker;
  jenkinsFor: JenkinsClientFactory;
  journal?: StepJournal;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
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
          const filtered = filterArchive(archive, prefix, selectForMigration(params));
          try {
            await deps.docker.getContainer(dstC.id).putArchive(filtered.stream, { path: JENKINS_HOME_IN_CONTAINER });
          } catch (err) {
            throw containerError(`write ${JENKINS_HOME_IN_CONTAINER} of ${dstC.name}`, dstC.name, dstLabel, err);
          }
          const list = await filtered.files;
          return { files: list.length, bytes: list.reduce((n, f) => n + f.size, 0) };
        },
        (v) => v,
      );
      files = r.files;
      bytes = r.bytes;
    }
    report(ctx, 'reload', `asking ${dstLabel} to reload configuration from disk`);
    await journaled(deps.journal, ctx, 'reload_target', { environment: params.target }, async () => {
      await dst.reload();
      await waitForReload(deps, dst, params.reloadTimeoutSec ?? 120);
    });
    const [srcJobs, dstJobs] = await Promise.all([src.listJobs(), dst.listJobs()]);
    const have = new Set(dstJobs.map((j) => j.fullName));
    const missing = srcJobs.filter((j) => !have.has(j.fullName)).map((j) => j.fullName);
    if (missing.length) {
      throw new SidecarError('CONFLICT', `after the copy and reload ${dstLabel} lacks ${missing.length} job(s) of ${srcLabel}: ${missing.slice(0, 10).join(', ')}; check its logs for load errors`, { missing });
    }
    report(ctx, 'done', `${dstLabel} lists all ${srcJobs.length} items of ${srcLabel}`);
    return { jobs: srcJobs.length, jobNames: srcJobs.map((j) => j.fullName), files, bytes, waitedSec: Math.round(waitedSec * 10) / 10, copied, sourceQuietingDown: true };
  } catch (err) {
    report(ctx, 'cancel_quiet_down', `migration failed; cancelling quiet-down on ${srcLabel}`);
    await journaled(deps.journal, ctx, 'cancel_quiet_down_source', { environment: params.source }, () => src.cancelQuietDown()).catch(() => undefined);
    throw err;
  }
}

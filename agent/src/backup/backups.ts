import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { filterArchive, listArchive } from '../docker/archive';
import { JENKINS_HOME_IN_CONTAINER } from '../docker/container-spec';
import { dockerDown, ensureManagedVolume, inspectManaged } from '../docker/containers';
import { managedLabels, volumeNameFor } from '../docker/labels';
import type { JenkinsClientFactory } from '../environments/controllers';
import { journaled, report, type StepJournal } from '../environments/journal-step';
import { refuseIfServing } from '../environments/serving-side';
import { SidecarError } from '../sidecar-error';
import { selectForBackup } from '../jenkins/home-layout';
import type { EnvironmentStateStore, OperationContext } from '../store/contract';
import { ARCHIVE_FILE, BACKUP_ID_PATTERN, backupIdFor, MANIFEST_FILE, manifestSchema, verifyArchive, type BackupManifest } from './manifest';
import { DEFAULT_RETENTION, expiredBackups, type RetentionPolicy } from './retention';
import { sleep } from '../sleep';

export interface BackupDeps {
  docker: Docker;
  environments: EnvironmentStateStore;
  /** Host directory holding `<team>/<backupId>/`. */
  root: string;
  retention?: RetentionPolicy;
  /** Used by restore to reload a running controller. */
  jenkinsFor?: JenkinsClientFactory;
  journal?: StepJournal;
  now?: () => Date;
}

export interface BackupSummary {
  backupId: string;
  team: string;
  environment: EnvironmentName;
  createdAt: string;
  path: string;
  files: number;
  bytes: number;
  archiveBytes: number;
}

const summary = (m: BackupManifest, dir: string): BackupSummary => ({
  backupId: m.backupId,
  team: m.team,
  environment: m.environment,
  createdAt: m.createdAt,
  path: dir,
  files: m.files.length,
  bytes: m.bytes,
  archiveBytes: m.archiveBytes,
});

const teamDir = (root: string, team: string): string => join(root, team);

async function readManifest(dir: string): Promise<BackupManifest> {
  const text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  return manifestSchema.parse(JSON.parse(text));
}

/** backup.list: newest first; unreadable entries are skipped (a half-written backup never has a final name). */
export async function listBackups(root: string, team: Team): Promise<BackupSummary[]> {
  let names: string[];
  try {
    names = await readdir(teamDir(root, team.team_name));
  } catch {
    return [];
  }
  const out: BackupSummary[] = [];
  for (const name of names) {
    if (!BACKUP_ID_PATTERN.test(name)) continue;
    const dir = join(teamDir(root, team.team_name), name);
    try {
      out.push(summary(await readManifest(dir), dir));
    } catch {}
  }
  return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/**
 * backup.create: archives the configuration state of one environment (default:
 * the active one) from its container through Docker's archive API. Written
 * into a temporary directory and renamed into place, so a backup either exists
 * whole or not at all. Applies retention afterwards.
 */
export async function createBackup(deps: BackupDeps, team: Team, params: { environment?: EnvironmentName }, ctx?: OperationContext): Promise<BackupSummary & { archiveSha256: string; expired: string[] }> {
  const now = deps.now ?? (() => new Date());
  const state = await deps.environments.ensure(team.team_name, team.active_environment);
  const env = params.environment ?? state.active;
  const c = await inspectManaged(deps.docker, team.environments[env].container, team.team_name, env);
  if (!c) throw new SidecarError('NOT_FOUND', `${team.team_name}/${env} has no container to back up (${team.environments[env].container}); deploy it first`, { team: team.team_name, environment: env });
  const createdAt = now();
  const backupId = backupIdFor(env, createdAt, randomBytes(3).toString('hex'));
  const base = teamDir(deps.root, team.team_name);
  const tmp = join(base, `.tmp-${backupId}`);
  const final = join(base, backupId);
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  try {
    report(ctx, 'archive', `archiving ${JENKINS_HOME_IN_CONTAINER} of ${c.name}`);
    const { manifest } = await journaled(deps.journal, ctx, 'archive_home', { container: c.name, backupId }, async () => {
      let src: NodeJS.ReadableStream;
      try {
        src = await deps.docker.getContainer(c.id).getArchive({ path: JENKINS_HOME_IN_CONTAINER });
      } catch (err) {
        throw dockerDown(`read ${JENKINS_HOME_IN_CONTAINER} of ${c.name}`, err);
      }
      const filtered = filterArchive(src, JENKINS_HOME_IN_CONTAINER.split('/').pop() as string, selectForBackup());
      const hash = createHash('sha256');
      let archiveBytes = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          archiveBytes += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(filtered.stream, tap, createWriteStream(join(tmp, ARCHIVE_FILE), { mode: 0o600 }));
      const files = await filtered.files;
      const m: BackupManifest = {
        version: 1,
        backupId,
        team: team.team_name,
        environment: env,
        createdAt: createdAt.toISOString(),
        image: c.image || null,
        archive: ARCHIVE_FILE,
        archiveSha256: hash.digest('hex'),
        archiveBytes,
        bytes: files.reduce((n, f) => n + f.size, 0),
        files,
      };
      await writeFile(join(tmp, MANIFEST_FILE), `${JSON.stringify(m, null, 1)}\n`, { mode: 0o600 });
      await rename(tmp, final);
      return { manifest: m };
    }, (v) => ({ backupId: v.manifest.backupId, files: v.manifest.files.length, bytes: v.manifest.bytes }));
    const expired = await applyRetention(deps, team);
    report(ctx, 'done', `backup ${backupId}: ${manifest.files.length} files, ${manifest.bytes} bytes${expired.length ? `; removed ${expired.length} expired` : ''}`);
    return { ...summary(manifest, final), archiveSha256: manifest.archiveSha256, expired };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function applyRetention(deps: BackupDeps, team: Team): Promise<string[]> {
  const all = await listBackups(deps.root, team);
  const ids = expiredBackups(all.map((b) => ({ backupId: b.backupId, createdAt: new Date(b.createdAt) })), deps.retention ?? DEFAULT_RETENTION, (deps.now ?? (() => new Date()))());
  for (const id of ids) await rm(join(teamDir(deps.root, team.team_name), id), { recursive: true, force: true });
  return ids;
}

/** Reads a backup and checks it against its manifest; CONFLICT (refused) when anything differs. */
export async function readVerifiedBackup(root: string, team: Team, backupId: string): Promise<{ manifest: BackupManifest; archivePath: string }> {
  if (!BACKUP_ID_PATTERN.test(backupId)) {
    throw new SidecarError('NOT_FOUND', `backup id ${JSON.stringify(backupId)} is not one the sidecar makes (expected e.g. blue-20250101T120000Z-a1b2c3); see backup.list`, { backupId });
  }
  const dir = join(teamDir(root, team.team_name), backupId);
  let manifest: BackupManifest;
  try {
    manifest = await readManifest(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SidecarError('NOT_FOUND', `backup ${backupId} of team ${team.team_name} does not exist; see backup.list`, { backupId });
    throw new SidecarError('CONFLICT', `backup ${backupId}: manifest is unreadable (${(err as Error).message}); refusing to restore it`, { reason: 'backup_unreadable', backupId }, { cause: err });
  }
  const archivePath = join(dir, ARCHIVE_FILE);
  const hash = createHash('sha256');
  let problems: string[];
  try {
    await pipeline(createReadStream(archivePath), new Transform({ transform(chunk: Buffer, _e, cb) { hash.update(chunk); cb(); } }));
    const files = await listArchive(createReadStream(archivePath));
    problems = verifyArchive(manifest, hash.digest('hex'), files);
  } catch (err) {
    problems = [`${ARCHIVE_FILE} cannot be read as a tar archive (${(err as Error).message})`];
  }
  if (problems.length) {
    throw new SidecarError('CONFLICT', `backup ${backupId} of team ${team.team_name} failed its integrity check and is refused: ${problems.slice(0, 5).join('; ')}; restore another backup (backup.list)`, {
      backupId,
      reason: 'checksum_mismatch',
      problems,
    });
  }
  return { manifest, archivePath };
}

/**
 * backup.restore: writes a verified backup into an environment's volume. Never
 * into the side that carries traffic. With a container, through it (a running
 * controller is then asked to reload); without one, through a short-lived
 * labelled helper container that mounts the volume and is never started.
 * Files are written over what is there; for an exact copy restore into a fresh volume.
 */
export async function restoreBackup(deps: BackupDeps, team: Team, params: { backupId: string; environment: EnvironmentName }, ctx?: OperationContext): Promise<{ restored: true; backupId: string; environment: EnvironmentName; files: number; reloaded: boolean; volume: string }> {
  const env = params.environment;
  await refuseIfServing(deps.environments, team, env, 'restore a backup into');
  const { manifest, archivePath } = await readVerifiedBackup(deps.root, team, params.backupId);
  report(ctx, 'verified', `backup ${params.backupId} matches its manifest (${manifest.files.length} files)`);
  const volume = volumeNameFor(team.team_name, env);
  await ensureManagedVolume(deps.docker, volume, team.team_name, env);
  const existing = await inspectManaged(deps.docker, team.environments[env].container, team.team_name, env);
  let reloaded = false;
  await journaled(deps.journal, ctx, 'restore_archive', { backupId: params.backupId, volume }, async () => {
    if (existing) {
      try {
        await deps.docker.getContainer(existing.id).putArchive(createReadStream(archivePath), { path: JENKINS_HOME_IN_CONTAINER });
      } catch (err) {
        throw dockerDown(`write ${JENKINS_HOME_IN_CONTAINER} of ${existing.name}`, err);
      }
      return;
    }
    const helperName = `${team.environments[env].container}-restore-${randomBytes(3).toString('hex')}`;
    let helper: Docker.Container | null = null;
    try {
      helper = await deps.docker.createContainer({
        name: helperName,
        Image: manifest.image ?? team.image,
        Labels: managedLabels(team.team_name, env, 'helper'),
        HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: JENKINS_HOME_IN_CONTAINER }], NetworkMode: 'none' },
      });
      await helper.putArchive(createReadStream(archivePath), { path: JENKINS_HOME_IN_CONTAINER });
    } catch (err) {
      throw dockerDown(`restore into volume ${volume} through helper ${helperName}`, err);
    } finally {
      await helper?.remove({ force: true }).catch(() => undefined);
    }
  });
  if (existing?.running && deps.jenkinsFor) {
    report(ctx, 'reload', `asking ${team.team_name}/${env} to reload from disk`);
    const client = deps.jenkinsFor(team, env);
    await client.reload();
    for (let i = 0; i < 240; i++) {
      try {
        await client.root();
        reloaded = true;
        break;
      } catch (err) {
        if ((err as SidecarError).data?.reason !== 'unavailable') throw err;
      }
      await sleep(250);
    }
  }
  await deps.environments.recordHealth(team.team_name, env, 'restored', { backupId: params.backupId });
  return { restored: true, backupId: params.backupId, environment: env, files: manifest.files.length, reloaded, volume };
}

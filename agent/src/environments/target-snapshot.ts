import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import { filterArchive, listSelectedEntries, type EntrySelector, type HomeEntry } from '../docker/archive';
import { JENKINS_HOME_IN_CONTAINER } from '../docker/container-spec';
import { isRestored, planRestore, type RestorePlan } from '../jenkins/home-layout';
import { sleep } from '../sleep';

/**
 * The target side of a state migration, saved before the copy writes into it
 * and put back when the migration fails. The saved set is the migration's own
 * selection read from the target (what the copy can overwrite), kept as a tar
 * file on the host's disk: plugins (.jpi) and, with includeBuilds, build
 * history make it too large to hold in memory, and a file survives a sidecar
 * crash so startup recovery can restore from it.
 */

/** Default when the sidecar gives no directory (ad-hoc calls, tests): the OS temp dir. */
export const DEFAULT_SNAPSHOT_DIR = join(tmpdir(), 'jsm-migrate-snapshots');

const HOME_PREFIX = basename(JENKINS_HOME_IN_CONTAINER); // Docker's GET /archive names entries jenkins_home/...
const EVERYTHING: EntrySelector = () => true;
/** Paths handed to `rm` are the archive's own relative names; anything that could leave the home is refused. */
const SAFE_REL = /^(?!-)[^\0]+$/;
const RM_BATCH = 200;
const EXEC_TIMEOUT_MS = 60_000;

export interface SavedTarget {
  archive: string;
  entries: HomeEntry[];
  files: number;
  bytes: number;
}

export interface RestoredTarget {
  /** Topmost entries the copy added, removed. */
  removed: string[];
  /** Saved entries written back because they were overwritten or gone. */
  rewritten: number;
}

export function snapshotPath(dir: string, operationId: string, env: string): string {
  const id = operationId.replace(/[^A-Za-z0-9_-]/g, '_');
  return join(dir, `${id}-${env}.tar`);
}

/** Reads the selected part of the container's home into `archive` (mode 0600: it holds secrets/). */
export async function saveTargetHome(docker: Docker, containerId: string, select: EntrySelector, archive: string): Promise<SavedTarget> {
  await mkdir(dirname(archive), { recursive: true, mode: 0o700 });
  const raw = await docker.getContainer(containerId).getArchive({ path: JENKINS_HOME_IN_CONTAINER });
  const filtered = filterArchive(raw, HOME_PREFIX, select);
  await pipeline(filtered.stream, createWriteStream(archive, { mode: 0o600 }));
  const files = await filtered.files;
  const entries = await listSelectedEntries(createReadStream(archive), '', EVERYTHING);
  return { archive, entries, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
}

/** The entries of the saved archive (recovery has only the file). */
export const savedEntries = (archive: string): Promise<HomeEntry[]> => listSelectedEntries(createReadStream(archive), '', EVERYTHING);

export async function currentTargetHome(docker: Docker, containerId: string, select: EntrySelector): Promise<HomeEntry[]> {
  return listSelectedEntries(await docker.getContainer(containerId).getArchive({ path: JENKINS_HOME_IN_CONTAINER }), HOME_PREFIX, select);
}

/** Docker's attach stream is multiplexed (8-byte frame headers: 1 stdout, 2 stderr); unframed input is taken as stdout. */
function demux(buf: Buffer): { stdout: Buffer; stderr: Buffer } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0) {
    const size = buf.readUInt32BE(i + 4);
    (buf[i] === 1 ? out : err).push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  if (i === 0) return { stdout: buf, stderr: Buffer.alloc(0) };
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}

/** Runs argv (no shell) in the container as root; its stdout, or an Error with its output when it exits non-zero. */
export async function execInContainer(docker: Docker, containerId: string, cmd: string[]): Promise<Buffer> {
  // Numeric root: files in the home may belong to the controller's user or to root (written by the archive API), and the image may have no /etc/passwd.
  const exec = await docker.getContainer(containerId).exec({ Cmd: cmd, User: '0', AttachStdout: true, AttachStderr: true });
  const stream = (await exec.start({ hijack: true, stdin: false })) as NodeJS.ReadableStream & { destroy?: () => void };
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy?.();
      reject(new Error(`${cmd[0]} did not finish within ${EXEC_TIMEOUT_MS / 1000}s`));
    }, EXEC_TIMEOUT_MS);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => (clearTimeout(timer), resolve()));
    stream.on('close', () => (clearTimeout(timer), resolve()));
    stream.on('error', (e: Error) => (clearTimeout(timer), reject(e)));
  });
  const { stdout, stderr } = demux(Buffer.concat(chunks));
  // The stream can end a moment before Docker records the exit code.
  for (let i = 0; i < 50; i++) {
    const info = await exec.inspect();
    if (!info.Running) {
      if (info.ExitCode !== 0) throw new Error(`${cmd[0]} exited with ${info.ExitCode}: ${Buffer.concat([stderr, stdout]).toString('utf8').trim().slice(0, 500) || 'no output'}`);
      return stdout;
    }
    await sleep(100);
  }
  throw new Error(`${cmd[0]} still running after its output ended`);
}

export const absoluteInHome = (rel: string): string => {
  if (!SAFE_REL.test(rel) || rel.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new Error(`refusing to remove ${JSON.stringify(rel)}: not a plain path inside ${JENKINS_HOME_IN_CONTAINER}`);
  return `${JENKINS_HOME_IN_CONTAINER}/${rel}`;
};

/** Removes entries of the home through `docker exec rm -rf` (argv, no shell); the container must be running. */
export async function removeFromHome(docker: Docker, containerId: string, rels: readonly string[]): Promise<void> {
  const paths = rels.map(absoluteInHome);
  for (let i = 0; i < paths.length; i += RM_BATCH) await execInContainer(docker, containerId, ['rm', '-rf', '--', ...paths.slice(i, i + RM_BATCH)]);
}

const describePlan = (p: RestorePlan): string =>
  [
    p.remove.length ? `still added: ${p.remove.slice(0, 5).join(', ')}` : '',
    p.changed.length ? `differ: ${p.changed.slice(0, 5).join(', ')}` : '',
    p.missing.length ? `missing: ${p.missing.slice(0, 5).join(', ')}` : '',
  ].filter(Boolean).join('; ');

/**
 * Puts the target's selected home back to the saved archive: removes what is
 * there now and was not saved, writes the saved entries back over the rest,
 * then reads the home again and compares every path and digest. Throws a plain
 * Error (the caller words it) when any step fails or the result differs.
 */
export async function restoreTargetHome(docker: Docker, containerId: string, select: EntrySelector, archive: string, saved?: readonly HomeEntry[]): Promise<RestoredTarget> {
  let added: string[] = [];
  let step = 'read the saved archive';
  try {
    const expected = saved ?? (await savedEntries(archive));
    step = 'list the home as it is now';
    const plan = planRestore(expected, await currentTargetHome(docker, containerId, select));
    added = plan.remove;
    step = `remove ${plan.remove.length} entries the copy added`;
    if (plan.remove.length) await removeFromHome(docker, containerId, plan.remove);
    step = 'write the saved archive back';
    // Written back even when the digests agree: it also restores modes and times of directories the copy touched.
    await docker.getContainer(containerId).putArchive(createReadStream(archive), { path: JENKINS_HOME_IN_CONTAINER });
    step = 'check the result';
    const after = planRestore(expected, await currentTargetHome(docker, containerId, select));
    if (!isRestored(after)) throw new Error(`the home still differs from the saved state (${describePlan(after)})`);
    return { removed: plan.remove, rewritten: plan.changed.length + plan.missing.length };
  } catch (err) {
    throw new RestoreFailure(`could not ${step}: ${(err as Error)?.message ?? String(err)}`, added, { cause: err });
  }
}

/** A failed restore; `added` lists what the copy added (empty when it could not be listed) for the manual command. */
export class RestoreFailure extends Error {
  override readonly name = 'RestoreFailure';
  constructor(message: string, readonly added: string[], options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** What an operator runs when the sidecar could not restore the target itself. */
export function manualRestoreCommands(container: string, archive: string, added: readonly string[]): string {
  const rmPart = added.length
    ? `docker exec -u 0 ${container} rm -rf -- ${added.slice(0, 20).map((p) => `'${JENKINS_HOME_IN_CONTAINER}/${p.replace(/'/g, "'\\''")}'`).join(' ')}${added.length > 20 ? ` (and ${added.length - 20} more, listed in the error data)` : ''}; `
    : `remove what the copy added to ${JENKINS_HOME_IN_CONTAINER} (compare with 'tar tf ${archive}'); `;
  return `${rmPart}docker cp - ${container}:${JENKINS_HOME_IN_CONTAINER} < ${archive}; then reload that Jenkins`;
}

export const discardSnapshot = (archive: string): Promise<void> => rm(archive, { force: true });

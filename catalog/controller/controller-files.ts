import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { ControllerFileMount } from './controller-mounts';
import { SidecarError } from '../sidecar-error';

/**
 * The host side of a controller's files, checked before environment.deploy
 * creates anything: a controller started without them would boot with an
 * empty admin password (JCasC's readFile of a missing file is empty) or no
 * library. `statFile` is the filesystem edge (fs.promises.stat by default).
 * The verdict on one file is pure (controllerFileVerdict) so that
 * `sidecarctl doctor` reports exactly what deploy would refuse, with the same words.
 */
export type StatFile = (path: string) => Promise<Stats>;

/** uid/gid of the `jenkins` user in the official jenkins/jenkins image: it must be able to read the secrets. */
export const CONTROLLER_UID = 1000;
export const CONTROLLER_GID = 1000;

/** What the verdict needs to know about a host file (fs.Stats and the doctor's FileFacts both provide it). */
export interface HostFileFacts {
  isFile: boolean;
  isDirectory: boolean;
  size: number;
  mode: number;
  uid: number;
  gid: number;
}

/** Why deploy would refuse one file: the problem, and the command or edit that fixes it. */
export interface ControllerFileVerdict {
  code: 'NOT_FOUND' | 'CONFLICT';
  problem: string;
  fix: string;
  data: Record<string, unknown>;
}

export function createSecretCommand(path: string): string {
  const dir = posix.dirname(path);
  return `install -d -m 0750 -g ${CONTROLLER_GID} ${dir} && (umask 077; head -c 32 /dev/urandom | base64 > ${path}) && chgrp ${CONTROLLER_GID} ${path} && chmod 0640 ${path}`;
}

/** The permissions every secret should have: the controller's group reads it, nobody else. */
export function secretModeCommand(path: string): string {
  return `chgrp ${CONTROLLER_GID} ${path} && chmod 0640 ${path}`;
}

function whatToWrite(m: ControllerFileMount): string {
  return m.field === 'secrets.sidecar_token' ? " (for the sidecar token, write the team's token from the tokens file instead of random bytes)" : '';
}

/** A file the sidecar (or the doctor) could not even stat, e.g. EACCES on a parent directory. */
export function unreadableVerdict(m: ControllerFileMount, reason: string): ControllerFileVerdict {
  return { code: 'CONFLICT', problem: `cannot read ${m.source}: ${reason}`, fix: 'the sidecar must be able to stat it', data: { path: m.source } };
}

/**
 * Pure: null when deploy accepts the file; otherwise NOT_FOUND for a missing
 * file, CONFLICT for a library that is not a directory or a secret that is not
 * a regular file, is empty, or is readable by every user (mode o+r).
 */
export function controllerFileVerdict(team: string, m: ControllerFileMount, st: HostFileFacts | null): ControllerFileVerdict | null {
  const data = { team, field: m.field, path: m.source, target: m.target };
  if (m.kind === 'library') {
    if (!st) {
      return {
        code: 'NOT_FOUND',
        problem: `${m.source} does not exist: team ${team}'s jenkins.yaml loads its library from ${m.target} (${m.field})`,
        fix: `create the repository (git init --bare ${m.source}) and push library-gen's output to it, or point SIDECAR_CONTROLLER_LIBRARY_DIR at the checkout`,
        data,
      };
    }
    if (!st.isDirectory) {
      return {
        code: 'CONFLICT',
        problem: `${m.source} is not a directory: team ${team}'s library (${m.field}) must be a git repository directory`,
        fix: `point SIDECAR_CONTROLLER_LIBRARY_DIR at the library repository, or replace ${m.source} with it (git init --bare ${m.source}, then push library-gen's output)`,
        data,
      };
    }
    return null;
  }
  const create = createSecretCommand(m.source);
  if (!st) {
    return { code: 'NOT_FOUND', problem: `secret file ${m.source} does not exist: team ${team}'s jenkins.yaml reads it at ${m.target} (${m.field})`, fix: `create it: ${create}${whatToWrite(m)}`, data };
  }
  if (!st.isFile) return { code: 'CONFLICT', problem: `secret ${m.source} is not a regular file (${m.field})`, fix: `replace it: rm -r ${m.source} && ${create}`, data };
  if (st.size === 0) {
    return { code: 'CONFLICT', problem: `secret file ${m.source} is empty (${m.field}): the controller would start with an empty secret`, fix: `write it: ${create}${whatToWrite(m)}`, data };
  }
  if ((st.mode & 0o004) !== 0) {
    return {
      code: 'CONFLICT',
      problem: `secret file ${m.source} is readable by every user (mode ${(st.mode & 0o777).toString(8)}, ${m.field})`,
      fix: `fix it: ${secretModeCommand(m.source)}`,
      data,
    };
  }
  return null;
}

/** The error deploy throws for a verdict: "<problem>; <fix>". */
export function verdictError(v: ControllerFileVerdict): SidecarError {
  const message = `${v.problem}; ${v.fix}`;
  return v.code === 'NOT_FOUND' ? new SidecarError('NOT_FOUND', message, v.data) : new SidecarError('CONFLICT', message, { reason: 'controller_file_unusable', ...v.data });
}

const factsOf = (st: Stats): HostFileFacts => ({ isFile: st.isFile(), isDirectory: st.isDirectory(), size: st.size, mode: st.mode, uid: st.uid, gid: st.gid });

/** Throws the first file's verdict (see controllerFileVerdict) as a SidecarError. */
export async function checkControllerFiles(team: string, mounts: ControllerFileMount[], statFile: StatFile = stat): Promise<void> {
  for (const m of mounts) {
    let st: HostFileFacts | null;
    try {
      st = factsOf(await statFile(m.source));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw verdictError(unreadableVerdict(m, (err as Error).message));
      st = null;
    }
    const v = controllerFileVerdict(team, m, st);
    if (v) throw verdictError(v);
  }
}

import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { ControllerFileMount } from '../docker/controller-mounts';
import { SidecarError } from '../errors/sidecar-error';

/**
 * The host side of a controller's files, checked before environment.deploy
 * creates anything: a controller started without them would boot with an
 * empty admin password (JCasC's readFile of a missing file is empty) or no
 * library. `statFile` is the filesystem edge (fs.promises.stat by default).
 */
export type StatFile = (path: string) => Promise<Stats>;

/** uid/gid of the `jenkins` user in the official jenkins/jenkins image: it must be able to read the secrets. */
export const CONTROLLER_GID = 1000;

export function createSecretCommand(path: string): string {
  const dir = posix.dirname(path);
  return `install -d -m 0750 -g ${CONTROLLER_GID} ${dir} && (umask 077; head -c 32 /dev/urandom | base64 > ${path}) && chgrp ${CONTROLLER_GID} ${path} && chmod 0640 ${path}`;
}

function whatToWrite(m: ControllerFileMount): string {
  return m.field === 'secrets.sidecar_token' ? " (for the sidecar token, write the team's token from the tokens file instead of random bytes)" : '';
}

async function statOrNull(statFile: StatFile, path: string): Promise<Stats | null> {
  try {
    return await statFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw new SidecarError('CONFLICT', `cannot read ${path}: ${(err as Error).message}; the sidecar must be able to stat it`, { path });
  }
}

/**
 * Throws NOT_FOUND for a missing file, CONFLICT for a secret that is not a
 * regular file, is empty, or is readable by every user (mode o+r).
 */
export async function checkControllerFiles(team: string, mounts: ControllerFileMount[], statFile: StatFile = stat): Promise<void> {
  for (const m of mounts) {
    const st = await statOrNull(statFile, m.source);
    const data = { team, field: m.field, path: m.source, target: m.target };
    if (m.kind === 'library') {
      if (!st) {
        throw new SidecarError(
          'NOT_FOUND',
          `${m.source} does not exist: team ${team}'s jenkins.yaml loads its library from ${m.target} (${m.field}); create the repository (git init --bare ${m.source}) and push library-gen's output to it, or point SIDECAR_CONTROLLER_LIBRARY_DIR at the checkout`,
          data,
        );
      }
      if (!st.isDirectory()) throw new SidecarError('CONFLICT', `${m.source} is not a directory: team ${team}'s library (${m.field}) must be a git repository directory`, data);
      continue;
    }
    const create = createSecretCommand(m.source);
    if (!st) {
      throw new SidecarError('NOT_FOUND', `secret file ${m.source} does not exist: team ${team}'s jenkins.yaml reads it at ${m.target} (${m.field}); create it: ${create}${whatToWrite(m)}`, data);
    }
    if (!st.isFile()) throw new SidecarError('CONFLICT', `secret ${m.source} is not a regular file (${m.field}); replace it: rm -r ${m.source} && ${create}`, data);
    if (st.size === 0) throw new SidecarError('CONFLICT', `secret file ${m.source} is empty (${m.field}): the controller would start with an empty secret; write it: ${create}${whatToWrite(m)}`, data);
    if ((st.mode & 0o004) !== 0) {
      throw new SidecarError('CONFLICT', `secret file ${m.source} is readable by every user (mode ${(st.mode & 0o777).toString(8)}, ${m.field}); fix it: chgrp ${CONTROLLER_GID} ${m.source} && chmod 0640 ${m.source}`, data);
    }
  }
}

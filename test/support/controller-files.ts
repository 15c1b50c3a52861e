import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Team } from '../../catalog/teams-file';
import { controllerFileMounts, type ControllerFilesConfig } from '../../agent/src/docker/controller-mounts';

/**
 * The host side of the files a controller's jenkins.yaml reads (secrets, file://
 * library), for every test that deploys stand-in controllers: one shared root
 * (team names are random, so teams never share a directory) and one library
 * directory. The sidecar supports pass TEST_CONTROLLER_ENV; makeTestTeam writes
 * each team's secrets. Importable outside jest.
 */
export const TEST_CONTROLLER_FILES: ControllerFilesConfig = {
  secretsRoot: join(tmpdir(), 'jsm-controller-secrets'),
  libraryDir: join(tmpdir(), 'jsm-controller-library.git'),
};

export const TEST_CONTROLLER_ENV: Record<string, string> = {
  SIDECAR_CONTROLLER_SECRETS_ROOT: TEST_CONTROLLER_FILES.secretsRoot,
  SIDECAR_CONTROLLER_LIBRARY_DIR: TEST_CONTROLLER_FILES.libraryDir as string,
};

/** Writes every file-sourced secret of the team (random, mode 0600) and makes sure the library dir exists. */
export function writeControllerFiles(team: Team, cfg: ControllerFilesConfig = TEST_CONTROLLER_FILES): void {
  for (const m of controllerFileMounts(team, cfg)) {
    if (m.kind === 'library') {
      mkdirSync(m.source, { recursive: true });
      continue;
    }
    mkdirSync(join(m.source, '..'), { recursive: true });
    writeFileSync(m.source, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  }
}

/** Removes the team's secrets directory (the shared library directory stays). */
export function removeControllerFiles(team: string, cfg: ControllerFilesConfig = TEST_CONTROLLER_FILES): void {
  rmSync(join(cfg.secretsRoot, team), { recursive: true, force: true });
}

import { posix } from 'node:path';
import { TEAM_NAME_PATTERN, type SecretSource, type Team } from '../teams-file';
import { SidecarError } from '../sidecar-error';

/**
 * The files a team's rendered jenkins.yaml reads at start (library-gen's
 * team-jcasc.ts: `${readFile:<secrets.*.file>}` and the library's git `remote`)
 * and where they come from on the Docker host. Pure: environment.deploy checks
 * the host side (controller-files.ts) and bind-mounts each one read-only.
 */
export interface ControllerFilesConfig {
  /** Each team's secret files live in `<secretsRoot>/<team>/secrets/`, named like the file the controller reads. */
  secretsRoot: string;
  /** Host path of the library repository mounted at a `file://` scm_url's path; null → that same path on the host. */
  libraryDir: string | null;
}

export type SecretName = 'admin_password' | 'service_password' | 'sidecar_token';
export const SECRET_NAMES: readonly SecretName[] = ['admin_password', 'service_password', 'sidecar_token'];

export interface ControllerFileMount {
  kind: 'secret' | 'library';
  /** The teams-file field that asks for it (`secrets.admin_password`, `shared_library.scm_url`). */
  field: string;
  /** Host path. */
  source: string;
  /** Path inside the controller, exactly as jenkins.yaml names it. */
  target: string;
}

/** Paths that reach Docker mounts: absolute, normalised, no `..`, nothing a mount spec could misread. */
const MOUNT_PATH_PATTERN = /^\/[A-Za-z0-9_./-]{1,254}$/;
const FILE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,100}$/;

function checkedPath(path: string, what: string): string {
  if (!MOUNT_PATH_PATTERN.test(path) || posix.normalize(path) !== path || path.split('/').includes('..') || path.endsWith('/')) {
    throw new SidecarError('CONFLICT', `${what} '${path}' is not a plain absolute path of [A-Za-z0-9_./-]; fix it in the teams file or the sidecar config`, { reason: 'invalid_team_config', path });
  }
  return path;
}

/** Host directory of one team's secret files. */
export function teamSecretsDir(cfg: ControllerFilesConfig, team: string): string {
  if (!TEAM_NAME_PATTERN.test(team)) throw new SidecarError('CONFLICT', `team name '${team}' does not match ${TEAM_NAME_PATTERN}`, { reason: 'invalid_team_config', team });
  return posix.join(checkedPath(cfg.secretsRoot, 'controller secrets root'), team, 'secrets');
}

/** The path a `file://` git URL names, or null for any other URL. */
export function fileUrlPath(scmUrl: string): string | null {
  if (!scmUrl.startsWith('file://')) return null;
  return scmUrl.slice('file://'.length);
}

/**
 * Every host file or directory the controller needs, in a stable order: the
 * file-sourced secrets (env-sourced ones are the caller's to provide) and the
 * library repository when it is a `file://` URL.
 */
export function controllerFileMounts(team: Team, cfg: ControllerFilesConfig): ControllerFileMount[] {
  const dir = teamSecretsDir(cfg, team.team_name);
  const mounts: ControllerFileMount[] = [];
  const byName = new Map<string, string>();
  for (const name of SECRET_NAMES) {
    const src: SecretSource = team.secrets[name];
    if (!('file' in src)) continue;
    const target = checkedPath(src.file, `secrets.${name}.file`);
    if (mounts.some((m) => m.target === target)) continue; // two secrets read one file: one mount
    const base = posix.basename(target);
    if (!FILE_NAME_PATTERN.test(base)) throw new SidecarError('CONFLICT', `secrets.${name}.file '${target}' has no usable file name`, { reason: 'invalid_team_config', path: target });
    const other = byName.get(base);
    // Host files are named like the controller's: two different paths with one name would read one host file.
    if (other) throw new SidecarError('CONFLICT', `secrets.${name}.file '${target}' and '${other}' share the file name '${base}'; give them different names in the teams file`, { reason: 'invalid_team_config', paths: [target, other] });
    byName.set(base, target);
    mounts.push({ kind: 'secret', field: `secrets.${name}`, source: posix.join(dir, base), target });
  }
  const libPath = fileUrlPath(team.shared_library.scm_url);
  if (libPath !== null) {
    const target = checkedPath(libPath, 'shared_library.scm_url (file://)');
    const source = cfg.libraryDir === null ? target : checkedPath(cfg.libraryDir, 'controller library dir');
    mounts.push({ kind: 'library', field: 'shared_library.scm_url', source, target });
  }
  return mounts;
}

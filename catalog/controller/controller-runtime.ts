import { readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { LIBRARY_HOST_DIR_ENV } from '../jenkins-platform';
import type { Team } from '../teams-file';
import { SECRET_NAMES, teamSecretsDir, type ControllerFileMount, type ControllerFilesConfig } from './controller-mounts';
import { SidecarError } from '../sidecar-error';
import { controllerFileVerdict, unreadableVerdict, verdictError, type HostFileFacts, type StatFile } from './controller-files';

/**
 * What a controller needs at run time besides its volume and read-only files:
 * the secrets its jenkins.yaml reads as `${NAME}` (from `{env: NAME}` in the
 * teams file), the host path of a file:// library (which its Docker cloud
 * mounts into agents as `${JSM_LIBRARY_HOST_DIR}`), and the Docker socket with
 * its group when the team asked for it (dynamic_agents.mount_docker_socket).
 */
export { LIBRARY_HOST_DIR_ENV };

export interface ControllerEnvSecret {
  /** The teams-file field (`secrets.sidecar_token`). */
  field: string;
  /** The variable jenkins.yaml reads. */
  name: string;
  /** Host file the sidecar reads the value from: `<secretsRoot>/<team>/secrets/<NAME>`. */
  source: string;
}

/** Pure: the env-sourced secrets of a team and the host file each value comes from. */
export function controllerEnvSecrets(team: Team, cfg: ControllerFilesConfig): ControllerEnvSecret[] {
  const dir = teamSecretsDir(cfg, team.team_name);
  const out: ControllerEnvSecret[] = [];
  for (const name of SECRET_NAMES) {
    const src = team.secrets[name];
    if (!('env' in src) || out.some((s) => s.name === src.env)) continue;
    out.push({ field: `secrets.${name}`, name: src.env, source: posix.join(dir, src.env) });
  }
  return out;
}

/** The env secret as the file verdict sees it (same refusals as a mounted secret file). */
export function envSecretAsMount(s: ControllerEnvSecret): ControllerFileMount {
  return { kind: 'secret', field: s.field, source: s.source, target: `$${s.name}` };
}

/** Pure: the unix socket to mount, or null (tcp:// endpoint, no cloud, or not asked for). */
export function dockerSocketPath(team: Team): string | null {
  const uri = team.dynamic_agents.docker_host;
  const cloud = team.jenkins_configuration.dynamic_agents && team.dynamic_agents.agents.length > 0;
  if (!cloud || !team.dynamic_agents.mount_docker_socket || !uri.startsWith('unix://')) return null;
  const path = uri.slice('unix://'.length);
  // It is bind-mounted read-write: only a plain absolute path (and, at deploy, only a socket).
  if (posix.normalize(path) !== path || path.split('/').includes('..')) {
    throw new SidecarError('CONFLICT', `dynamic_agents.docker_host ${uri} of team ${team.team_name} is not a plain absolute path; name the socket itself`, { reason: 'invalid_team_config', uri });
  }
  return path;
}

export interface ControllerRuntime {
  env: Record<string, string>;
  mounts: Array<{ source: string; target: string; readOnly: boolean }>;
  /** Supplementary groups of the controller's user (the socket's gid). */
  groupAdd: string[];
}

export interface RuntimeFs {
  statFile?: StatFile;
  readText?: (path: string) => Promise<string>;
}

async function factsOrNull(statFile: StatFile, path: string, m: ControllerFileMount): Promise<HostFileFacts | null> {
  try {
    const st = await statFile(path);
    return { isFile: st.isFile(), isDirectory: st.isDirectory(), size: st.size, mode: st.mode, uid: st.uid, gid: st.gid };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw verdictError(unreadableVerdict(m, (err as Error).message));
  }
}

/** One env secret's value: checked like a secret file, one trailing newline dropped, no other line break. */
async function readEnvSecret(team: Team, s: ControllerEnvSecret, fs: Required<RuntimeFs>): Promise<string> {
  const m = envSecretAsMount(s);
  const v = controllerFileVerdict(team.team_name, m, await factsOrNull(fs.statFile, s.source, m));
  if (v) throw verdictError(v);
  let text: string;
  try {
    text = await fs.readText(s.source);
  } catch (err) {
    throw verdictError(unreadableVerdict(m, (err as Error).message));
  }
  const value = text.replace(/\r?\n$/, '');
  if (value.length === 0 || /[\r\n\0]/.test(value)) {
    throw new SidecarError('CONFLICT', `secret file ${s.source} (${s.field}, the controller's ${s.name}) must hold one line; write it with printf '%s' VALUE > ${s.source}`, { reason: 'controller_file_unusable', path: s.source, field: s.field });
  }
  return value;
}

async function socketGroup(team: Team, path: string, statFile: StatFile): Promise<string> {
  let st;
  try {
    st = await statFile(path);
  } catch (err) {
    throw new SidecarError('NOT_FOUND', `team ${team.team_name}'s Docker cloud uses ${team.dynamic_agents.docker_host} but ${path} cannot be read on this host (${(err as Error).message}); start Docker there or set dynamic_agents.docker_host to the engine's socket`, { path });
  }
  if (!st.isSocket()) {
    throw new SidecarError('CONFLICT', `${path} (dynamic_agents.docker_host of team ${team.team_name}) is not a socket`, { reason: 'controller_file_unusable', path });
  }
  return String(st.gid);
}

/** Reads and checks everything the controller gets at run time; throws before deploy creates anything. */
export async function controllerRuntime(team: Team, cfg: ControllerFilesConfig | undefined, libraryMount: ControllerFileMount | undefined, io: RuntimeFs = {}): Promise<ControllerRuntime> {
  const fs: Required<RuntimeFs> = { statFile: io.statFile ?? stat, readText: io.readText ?? ((p) => readFile(p, 'utf8')) };
  const out: ControllerRuntime = { env: {}, mounts: [], groupAdd: [] };
  if (cfg) {
    for (const s of controllerEnvSecrets(team, cfg)) out.env[s.name] = await readEnvSecret(team, s, fs);
  }
  if (libraryMount) out.env[LIBRARY_HOST_DIR_ENV] = libraryMount.source;
  const socket = dockerSocketPath(team);
  if (socket) {
    // The official image runs Jenkins as uid 1000 without the host's docker group: add the socket's gid.
    out.groupAdd.push(await socketGroup(team, socket, fs.statFile));
    out.mounts.push({ source: socket, target: socket, readOnly: false });
  }
  return out;
}

import type { Team } from '../../../catalog/teams-file';
import { controllerFileMounts, teamSecretsDir, type ControllerFileMount, type ControllerFilesConfig } from '../docker/controller-mounts';
import { CONTROLLER_GID, CONTROLLER_UID, controllerFileVerdict, secretModeCommand, unreadableVerdict, type HostFileFacts } from '../environments/controller-files';
import { controllerEnvSecrets, envSecretAsMount } from '../environments/controller-runtime';
import { CheckResult, fail, ok, warn } from './check-result';
import { DoctorProbes, errorCode } from './probes';

/**
 * The files environment.deploy mounts into a team's controller (secrets, the
 * file:// library), checked before any deploy. A file deploy would refuse
 * fails with deploy's own words (controllerFileVerdict is the one source of
 * truth); a file deploy accepts but the controller's user cannot read is a
 * warning, because deploy does not look at that and the controller would
 * start without its password or library.
 */

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(3, '0');

/**
 * Pure: whether uid CONTROLLER_UID with primary group CONTROLLER_GID (the
 * official image's `jenkins` user, no supplementary groups) may read the file
 * — and enter it, for a directory — going by owner, group and mode alone. Like
 * the kernel, only the first matching class counts: an owner without `r` is
 * refused even when the group may read. Assumes no user-namespace remapping.
 */
export function controllerCanRead(st: Pick<HostFileFacts, 'mode' | 'uid' | 'gid'>, directory: boolean): boolean {
  const need = directory ? 0o5 : 0o4;
  const shift = st.uid === CONTROLLER_UID ? 6 : st.gid === CONTROLLER_GID ? 3 : 0;
  return ((st.mode >> shift) & need) === need;
}

function unreadableByController(team: string, m: ControllerFileMount, st: HostFileFacts): { problem: string; fix: string } {
  const who = `owner ${st.uid}:${st.gid}, mode ${octal(st.mode)}`;
  if (m.kind === 'library') {
    return {
      problem: `the controller (uid/gid ${CONTROLLER_UID}) cannot read the library repository ${m.source} (${who}): team ${team}'s pipelines would not load their library`,
      fix: `chgrp -R ${CONTROLLER_GID} ${m.source} && chmod -R g+rX ${m.source}`,
    };
  }
  return {
    problem: `the controller (uid/gid ${CONTROLLER_UID}) cannot read secret file ${m.source} (${who}, ${m.field}): it would start without it`,
    fix: secretModeCommand(m.source),
  };
}

/** One check per team: "controller files of <team>". */
export function checkTeamControllerFiles(team: Team, cfg: ControllerFilesConfig, probes: DoctorProbes): CheckResult {
  const name = `controller files of ${team.team_name}`;
  let mounts: ControllerFileMount[];
  try {
    mounts = controllerFileMounts(team, cfg);
  } catch (err) {
    return fail(name, (err as Error).message, 'correct secrets.*.file or shared_library.scm_url in the teams file, or SIDECAR_CONTROLLER_SECRETS_ROOT / SIDECAR_CONTROLLER_LIBRARY_DIR');
  }
  // `{env: NAME}` secrets: deploy reads each value from the team's secrets directory, with the same refusals.
  const envSecrets = controllerEnvSecrets(team, cfg).map(envSecretAsMount);
  if (mounts.length === 0 && envSecrets.length === 0) return ok(name, 'nothing to mount (library not file://, no secret files)');
  const refused: string[] = [];
  const unreadable: string[] = [];
  const fixes: string[] = [];
  for (const m of [...mounts, ...envSecrets]) {
    let st: HostFileFacts | null;
    try {
      st = probes.stat(m.source);
    } catch (err) {
      const code = errorCode(err);
      if (code !== 'ENOTDIR') {
        refused.push(unreadableVerdict(m, code || (err as Error).message).problem);
        fixes.push(`make the directories above ${m.source} searchable by the sidecar's user, and run the doctor as that user`);
        continue;
      }
      st = null; // deploy treats a path through a non-directory as missing too
    }
    const verdict = controllerFileVerdict(team.team_name, m, st);
    if (verdict) {
      refused.push(verdict.problem);
      fixes.push(verdict.fix);
    } else if (st && !m.target.startsWith('$') && !controllerCanRead(st, m.kind === 'library')) {
      const u = unreadableByController(team.team_name, m, st);
      unreadable.push(u.problem);
      fixes.push(u.fix);
    }
  }
  if (refused.length) {
    return fail(name, `environment.deploy would refuse ${refused.length} of ${mounts.length + envSecrets.length} file(s)`, fixes.join('\n'), [...refused, ...unreadable]);
  }
  if (unreadable.length) return warn(name, `${unreadable.length} of ${mounts.length} file(s) the controller cannot read`, fixes.join('\n'), unreadable);
  const secrets = mounts.filter((m) => m.kind === 'secret').length + envSecrets.length;
  const library = mounts.find((m) => m.kind === 'library');
  const parts = [...(secrets ? [`${secrets} secret file(s) in ${teamSecretsDir(cfg, team.team_name)}`] : []), ...(library ? [`library ${library.source}`] : [])];
  return ok(name, `ready to mount: ${parts.join(', ')}`);
}

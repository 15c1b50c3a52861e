import { parseTeamsDocument } from '../../../catalog/teams-file';
import type { ConfigResult, SidecarConfig } from '../config/sidecar-config';
import { parseTokensDocument } from '../config/tokens-file';
import { CheckResult, fail, ok, skip, warn } from './check-result';
import { checkTeamConformance, teamsFileConformance } from './conformance-check';
import { checkTeamControllerFiles } from './controller-file-checks';
import { DoctorProbes, errorCode } from './probes';
import { dataDirLayout } from '../config/data-dir';

/**
 * Checks of what the sidecar reads from disk: its configuration, the tokens
 * file (who may move traffic), the teams file and the Jenkins API token files
 * it names. A secret or a permission list that everyone on the host can read
 * is a failure with the chmod that fixes it.
 */

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(3, '0');

export function checkConfig(result: ConfigResult, source: string): CheckResult {
  if (result.errors.length) {
    return fail('config', `${result.errors.length} problem(s) in the configuration (${source})`, 'correct each line below in the environment file or --config YAML, then restart the sidecar', result.errors);
  }
  if (result.warnings.length) return warn('config', `loaded from ${source} with ${result.warnings.length} warning(s)`, undefined, result.warnings);
  return ok('config', `loaded from ${source}`);
}

/** The secret-or-permission file rules shared by the tokens file and Jenkins token files. */
function permissionProblem(path: string, mode: number, what: string): CheckResult | null {
  if ((mode & 0o007) !== 0) {
    return fail(
      what,
      `${path} is accessible to every user on this host (mode ${octal(mode)})`,
      `chmod o-rwx ${path}   # keep it readable by its owner and the sidecar's group only (e.g. 0640 root:jenkins-sidecar)`,
    );
  }
  return null;
}

export function checkTokensFile(config: SidecarConfig, probes: DoctorProbes): CheckResult {
  const name = 'tokens file';
  if (!config.tokensFile) {
    const opsToken = dataDirLayout(config.dataDir).opsToken;
    let facts;
    try {
      facts = probes.stat(opsToken);
    } catch (err) {
      return fail(name, `cannot inspect ${opsToken} (${errorCode(err) || (err as Error).message})`, `run the doctor as the sidecar's user or as root`);
    }
    if (facts && (facts.mode & 0o077) !== 0) {
      return fail(name, `no tokens file; the generated ops token ${opsToken} has mode ${octal(facts.mode)}`, `chmod 600 ${opsToken}`);
    }
    return warn(
      name,
      `SIDECAR_TOKENS_FILE is not set: only the generated ops token ${opsToken} is accepted`,
      'for team tokens write a tokens file (tokens: [{id, sha256, teams}]), chmod 640 it and set SIDECAR_TOKENS_FILE',
    );
  }
  const path = config.tokensFile;
  let facts;
  try {
    facts = probes.stat(path);
  } catch (err) {
    return fail(name, `cannot inspect ${path} (${errorCode(err) || (err as Error).message})`, `check the directories above ${path}; run the doctor as the sidecar's user or as root`);
  }
  if (!facts) return fail(name, `${path} does not exist`, `create it (see docs/operations.md, "Rotating tokens") or correct SIDECAR_TOKENS_FILE`);
  const perm = permissionProblem(path, facts.mode, name);
  if (perm) return perm;
  let text: string;
  try {
    text = probes.readText(path);
  } catch (err) {
    return fail(name, `cannot read ${path} (${errorCode(err) || (err as Error).message})`, `chgrp jenkins-sidecar ${path} && chmod 640 ${path}`);
  }
  const parsed = parseTokensDocument(text, path, facts.mode);
  if (parsed.errors.length) return fail(name, `${parsed.errors.length} problem(s) in ${path}`, 'correct each line below, then restart the sidecar', parsed.errors);
  const opsCount = parsed.tokens.filter((t) => t.teams.includes('*')).length;
  if ((facts.mode & 0o020) !== 0) {
    return warn(name, `${path} is writable by its group (mode ${octal(facts.mode)}): any member can grant itself the ops scope`, `chmod g-w ${path}`);
  }
  if (opsCount === 0) {
    return warn(name, `${path}: ${parsed.tokens.length} token(s), none with ops scope ("*")`, 'add an ops token (teams: ["*"]) for emergency stops and the dashboard');
  }
  return ok(name, `${path}: ${parsed.tokens.length} token(s), ${opsCount} with ops scope, mode ${octal(facts.mode)}`);
}

/**
 * The teams file, then per team the Jenkins API token file it names (a secret
 * in clear) and the files environment.deploy would mount into its controller.
 */
export function checkTeamsFile(config: SidecarConfig, probes: DoctorProbes): CheckResult[] {
  if (!config.teamsFile) return [skip('teams file', 'SIDECAR_TEAMS_FILE is not set')];
  const path = config.teamsFile;
  let text: string;
  try {
    text = probes.readText(path);
  } catch (err) {
    const code = errorCode(err);
    return [
      fail(
        'teams file',
        `cannot read ${path} (${code || (err as Error).message})`,
        code === 'ENOENT' ? `generate it (library-gen reads the same file) or correct SIDECAR_TEAMS_FILE` : `chgrp jenkins-sidecar ${path} && chmod 640 ${path}`,
      ),
    ];
  }
  const parsed = parseTeamsDocument(text, path);
  if (parsed.errors.length) return [fail('teams file', `${parsed.errors.length} problem(s) in ${path}`, 'correct each line below, then restart the sidecar', parsed.errors)];
  const results: CheckResult[] = [ok('teams file', `${path}: ${parsed.teams.length} team(s): ${parsed.teams.map((t) => t.team_name).join(', ') || '(none)'}`)];
  const conformance = parsed.teams.some((t) => t.self_management_enabled) ? teamsFileConformance(path, probes) : {};
  for (const team of parsed.teams) {
    if (team.jenkins_token_file) results.push(checkJenkinsToken(team.team_name, team.jenkins_user, team.jenkins_token_file, probes));
    // resolveConfig always sets controllerFiles; only hand-built configurations leave it out.
    if (config.controllerFiles) results.push(checkTeamControllerFiles(team, config.controllerFiles, probes));
    if (team.self_management_enabled) results.push(checkTeamConformance(path, team, conformance));
  }
  return results;
}

function checkJenkinsToken(team: string, user: string, file: string, probes: DoctorProbes): CheckResult {
  const name = `jenkins token of ${team}`;
  let facts;
  try {
    facts = probes.stat(file);
  } catch (err) {
    return fail(name, `cannot inspect ${file} (${errorCode(err) || (err as Error).message})`, `check the directories above ${file}`);
  }
  if (!facts) return fail(name, `${file} does not exist`, `write team ${team}'s Jenkins API token for user ${user} into ${file} (chmod 600), or correct jenkins_token_file`);
  return permissionProblem(file, facts.mode, name) ?? ok(name, `${file} (mode ${octal(facts.mode)})`);
}

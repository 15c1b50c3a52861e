import type { Team } from '../../../catalog/teams-file';
import { loadTemplates } from '../../../library-gen/src/template-source';
import { generatedJenkinsfiles, teamConformanceLines } from '../../../library-gen/src/verify/verify-command';
import { CheckResult, fail, ok } from './check-result';

/**
 * Per self-managed team: what `library-gen verify` reports (the same function),
 * so a host's doctor says whether the team's generated image can work on the
 * pinned Jenkins before anyone builds it.
 */
let jenkinsfiles: ReadonlyMap<string, string> | undefined;

export function checkTeamConformance(teamsFile: string, team: Team): CheckResult {
  const name = `jenkins conformance of ${team.team_name}`;
  let lines: string[];
  try {
    jenkinsfiles ??= generatedJenkinsfiles(loadTemplates());
    lines = teamConformanceLines(teamsFile, team, jenkinsfiles);
  } catch (err) {
    return fail(name, `cannot render the team's files: ${(err as Error).message}`, 'run the doctor from a complete installation (library-gen templates beside it)');
  }
  if (lines.length === 0) return ok(name, 'plugins, JCasC keys and lookups, controller variables and files, labels and mounts conform to the pinned Jenkins');
  return fail(name, `${lines.length} problem(s) a real Jenkins would hit (library-gen verify --teams ${teamsFile} says the same)`, 'apply the fix named on each line, then run library-gen build', lines);
}

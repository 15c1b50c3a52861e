import type { Team } from '../../../catalog/teams-file';
import { CheckResult, fail, ok } from './check-result';
import type { DoctorProbes } from './probes';

/** Each self-managed team's lines from `library-gen verify`, or why it could not run. */
export type ConformanceLines = Record<string, string[]> | Error;

/** One run of the installation's library-gen verify for the whole teams file. */
export function teamsFileConformance(teamsFile: string, probes: DoctorProbes): ConformanceLines {
  try {
    return probes.conformance(teamsFile);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/**
 * Per self-managed team: what `library-gen verify` reports (the same program),
 * so a host's doctor says whether the team's generated image can work on the
 * pinned Jenkins before anyone builds it.
 */
export function checkTeamConformance(teamsFile: string, team: Team, conformance: ConformanceLines): CheckResult {
  const name = `jenkins conformance of ${team.team_name}`;
  if (conformance instanceof Error) {
    return fail(name, `cannot run library-gen verify: ${conformance.message}`, 'run the doctor from a complete installation (npm run build: library-gen and its templates beside it)');
  }
  const lines = conformance[team.team_name] ?? [];
  if (lines.length === 0) return ok(name, 'plugins, JCasC keys and lookups, controller variables and files, labels and mounts conform to the pinned Jenkins');
  return fail(name, `${lines.length} problem(s) a real Jenkins would hit (library-gen verify --teams ${teamsFile} says the same)`, 'apply the fix named on each line, then run library-gen build', lines);
}

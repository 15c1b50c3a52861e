import { parseTeamsDocument, type Team } from '../../../catalog/teams-file';
import { renderJenkinsfiles } from '../render/jenkinsfiles';
import type { TemplateSource } from '../template-source';
import { formatProblem, teamConformance } from './conformance';

/** The Jenkinsfiles every self-managed team runs (the same for each team). */
export function generatedJenkinsfiles(templates: TemplateSource): Map<string, string> {
  return renderJenkinsfiles(templates);
}

/** One team's problem lines (the doctor shows them per team). */
export function teamConformanceLines(teamsFile: string, team: Team, jenkinsfiles: ReadonlyMap<string, string>): string[] {
  return teamConformance(team, jenkinsfiles).map((p) => formatProblem(teamsFile, team.team_name, p));
}

export interface VerifyResult {
  ok: boolean;
  lines: string[];
  teams: number;
  /** Each self-managed team's lines (what `sidecarctl doctor` shows per team, from `verify --json`). */
  byTeam: Record<string, string[]>;
}

/** Pure given the templates: the teams file's text in, every problem line out (teams-file errors first). */
export function verifyTeamsText(text: string, file: string, templates: TemplateSource): VerifyResult {
  const { teams, errors } = parseTeamsDocument(text, file);
  if (errors.length) return { ok: false, lines: errors, teams: 0, byTeam: {} };
  const managed = teams.filter((t) => t.self_management_enabled);
  const jenkinsfiles = generatedJenkinsfiles(templates);
  const byTeam = Object.fromEntries(managed.map((t) => [t.team_name, teamConformanceLines(file, t, jenkinsfiles)]));
  const lines = Object.values(byTeam).flat();
  return { ok: lines.length === 0, lines, teams: managed.length, byTeam };
}

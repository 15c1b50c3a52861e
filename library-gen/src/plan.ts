import { DEFAULT_HAPROXY_SETTINGS, type HaproxySettings } from '../../catalog/haproxy-settings';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { haproxyOptionsFromSettings, renderHaproxyConfig } from './render/haproxy-config';
import { renderJenkinsfiles } from './render/jenkinsfiles';
import { renderJobDsl } from './render/job-dsl';
import { renderLibraryResources } from './render/library-resources';
import { renderLibraryVars } from './render/library-steps';
import { renderMonitoring } from './render/monitoring';
import { renderRpcContractMarkdown } from './render/rpc-contract';
import { renderStepsMarkdown } from './render/step-help';
import { renderCoordinationAgentFiles } from './render/coordination-agent';
import { renderSystemdUnit } from './render/systemd-unit';
import { renderTeamFiles } from './render/team-files';
import type { TemplateSource } from './template-source';

/**
 * Plan, then apply: every output file and its bytes, computed in memory from the
 * catalog, the templates and the teams. Pure given the templates; sorted paths,
 * so the same input gives byte-identical output.
 */
export type Plan = ReadonlyMap<string, string>;

/** Top-level folders and files library-gen owns in the output directory. */
export const MANAGED_ROOTS = ['library', 'pipelines', 'jobdsl', 'haproxy', 'monitoring', 'systemd', 'teams', 'docs/steps.md', 'docs/rpc-contract.md'] as const;

export function planFromTeams(teams: Team[], templates: TemplateSource, haproxy: HaproxySettings = DEFAULT_HAPROXY_SETTINGS): Plan {
  const parts: Map<string, string>[] = [
    renderLibraryVars(templates),
    renderLibraryResources(templates, teams),
    renderJenkinsfiles(templates),
    renderJobDsl(templates, teams),
    new Map([['haproxy/haproxy.cfg', renderHaproxyConfig(teams, haproxyOptionsFromSettings(haproxy))]]),
    renderMonitoring(),
    renderSystemdUnit(templates.root),
    renderCoordinationAgentFiles(teams),
    new Map([
      ['docs/steps.md', renderStepsMarkdown()],
      ['docs/rpc-contract.md', renderRpcContractMarkdown()],
    ]),
    // One controller configuration per self-managed team, run as blue and as green.
    new Map(teams.filter((t) => t.self_management_enabled).flatMap((t) => renderTeamFiles(t).map((f) => [f.path, f.content] as [string, string]))),
  ];
  const all = new Map<string, string>();
  for (const part of parts) {
    for (const [path, text] of part) {
      if (all.has(path)) throw new Error(`library-gen: two renderers produce ${path}`);
      all.set(path, text.endsWith('\n') ? text : text + '\n');
    }
  }
  return new Map([...all.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export type PlanResult = { ok: true; plan: Plan; teams: Team[] } | { ok: false; errors: string[] };

/** Teams-file text to plan; a bad teams file gives its errors and no plan. */
export function planFromTeamsText(text: string, file: string, templates: TemplateSource): PlanResult {
  const { teams, errors, haproxy } = parseTeamsDocument(text, file);
  if (errors.length) return { ok: false, errors };
  if (teams.length === 0) return { ok: false, errors: [`${file}: jenkins_teams is empty: nothing to generate`] };
  return { ok: true, plan: planFromTeams(teams, templates, haproxy), teams };
}

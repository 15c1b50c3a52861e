import { COORDINATION_OPERATIONS } from '../../../catalog/steps/common-params';
import type { Team } from '../../../catalog/teams-file';
import { groovyLiteral } from '../groovy-literal';
import type { TemplateSource } from '../template-source';
import { GENERATED_HEADER } from './generated-header';

/** jobdsl/self-management.groovy: one seed script for every self-managed team. */
export function renderJobDsl(templates: TemplateSource, teams: Team[]): Map<string, string> {
  const managed = teams.filter((t) => t.self_management_enabled).sort((a, b) => a.team_name.localeCompare(b.team_name));
  const entries = managed.map((t) =>
    groovyLiteral({
      name: t.team_name,
      // The default choice is the side not serving per the teams file: a switch goes there.
      targetChoices: t.active_environment === 'blue' ? ['green', 'blue'] : ['blue', 'green'],
      scmUrl: t.self_management_config.pipelines_repository,
      scmBranch: t.self_management_config.pipelines_branch,
      scmCredentialsId: t.self_management_config.pipelines_credentials_id ?? null,
    }),
  );
  const text = templates.get('library-gen/templates/jobdsl/self-management.groovy.hbs')({
    header: GENERATED_HEADER.replace(/^\/\/ /, ''),
    teams: entries,
    operations: groovyLiteral([...COORDINATION_OPERATIONS]),
  });
  return new Map([['jobdsl/self-management.groovy', text]]);
}

import type { Team } from '../../../catalog/teams-file';
import type { TemplateSource } from '../template-source';
import { GENERATED_HEADER } from './generated-header';

/** Playbooks the library ships in resources/ (executeAnsiblePlaybook falls back to them). */
export const SHIPPED_PLAYBOOKS: readonly string[] = ['deploy-jenkins-environment.yml'];

/**
 * library/resources/: the shipped playbooks and jsm/teams.json, the per-team
 * settings the steps need at run time (credentials id, sidecar URL).
 */
export function renderLibraryResources(templates: TemplateSource, teams: Team[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of SHIPPED_PLAYBOOKS) {
    out.set(`library/resources/${name}`, templates.get(`library-gen/templates/resources/${name}.hbs`)({ header: GENERATED_HEADER.replace(/^\/\/ /, '') }));
  }
  const settings: Record<string, { credentialsId: string; sidecarUrl: string }> = {};
  for (const t of [...teams].sort((a, b) => a.team_name.localeCompare(b.team_name))) {
    settings[t.team_name] = {
      credentialsId: t.sidecar_credentials_id,
      sidecarUrl: `ws://127.0.0.1:${t.self_management_config.coordination_api_port}/rpc`,
    };
  }
  out.set('library/resources/jsm/teams.json', JSON.stringify(settings, null, 2) + '\n');
  return out;
}

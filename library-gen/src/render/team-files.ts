import type { Team } from '../../../catalog/teams-file';
import { renderJenkinsYaml, seedJobLabel } from './team-jcasc';
import { renderPluginsTxt } from './team-plugins';
import { renderTeamTemplate } from './team-templates';

/**
 * One configuration per team, the same for blue and green:
 * `teams/<team>/{jenkins.yaml, plugins.txt, Dockerfile, seedJob.groovy}`, the
 * Docker build context of the team's single image. Pure and deterministic: the
 * same team and context give the same bytes.
 */
export interface TeamRenderContext {
  /** Output folder of the team directories, relative to the build's out dir (default `teams`). */
  teamsDir?: string;
  /** Job DSL scripts the seed job applies, relative to the library repository root (default `jobdsl/*.groovy`). */
  jobDslTargets?: string;
  /** Where the image keeps jenkins.yaml and seedJob.groovy (default /usr/share/jenkins/casc). */
  cascDir?: string;
}

export const DEFAULT_CASC_DIR = '/usr/share/jenkins/casc';
export const DEFAULT_JOBDSL_TARGETS = 'jobdsl/*.groovy';

const CASC_DIR_PATTERN = /^\/[A-Za-z0-9_./-]{1,200}[^/]$/;
const TARGETS_PATTERN = /^[A-Za-z0-9_.*/-]{1,200}$/;

function resolveContext(ctx: TeamRenderContext): Required<TeamRenderContext> {
  const cascDir = ctx.cascDir ?? DEFAULT_CASC_DIR;
  const jobDslTargets = ctx.jobDslTargets ?? DEFAULT_JOBDSL_TARGETS;
  if (!CASC_DIR_PATTERN.test(cascDir)) throw new TypeError(`renderTeamFiles: cascDir ${JSON.stringify(cascDir)} must be an absolute path without trailing /`);
  if (!TARGETS_PATTERN.test(jobDslTargets)) throw new TypeError(`renderTeamFiles: jobDslTargets ${JSON.stringify(jobDslTargets)} must be a relative path or glob`);
  return { teamsDir: (ctx.teamsDir ?? 'teams').replace(/\/+$/, ''), jobDslTargets, cascDir };
}

export function renderSeedJob(team: Team, ctx: TeamRenderContext = {}): string {
  const c = resolveContext(ctx);
  const lib = team.shared_library;
  const infraFolder = `${team.team_name}/Infrastructure`;
  return renderTeamTemplate('seedJob.groovy.hbs', {
    team: team.team_name,
    folderDescription: `Jobs of team ${team.team_name}, managed by jenkins-selfmanage.`,
    infraFolder,
    seedJobName: `${infraFolder}/Seed-Job`,
    seedDescription: `Applies the Job DSL of the ${lib.name} library (${c.jobDslTargets}) for team ${team.team_name}. Created by configuration as code at start.`,
    seedLabel: seedJobLabel(team),
    scmUrl: lib.scm_url,
    libraryVersion: lib.default_version,
    credentialsId: lib.credentials_id ?? '',
    jobDslTargets: c.jobDslTargets,
  });
}

export function renderDockerfile(team: Team, ctx: TeamRenderContext = {}): string {
  const c = resolveContext(ctx);
  const localRepository = team.shared_library.scm_url.startsWith('file://');
  const javaOpts = ['-Djenkins.install.runSetupWizard=false', ...(localRepository ? ['-Dhudson.plugins.git.GitSCM.ALLOW_LOCAL_CHECKOUT=true'] : [])].join(' ');
  return renderTeamTemplate('Dockerfile.hbs', { team: team.team_name, baseImage: team.jenkins_base_image, cascDir: c.cascDir, localRepository, javaOpts });
}

export function renderTeamFiles(team: Team, ctx: TeamRenderContext = {}): Array<{ path: string; content: string }> {
  const c = resolveContext(ctx);
  const dir = `${c.teamsDir}/${team.team_name}`;
  return [
    { path: `${dir}/Dockerfile`, content: renderDockerfile(team, ctx) },
    { path: `${dir}/jenkins.yaml`, content: renderJenkinsYaml(team, { cascDir: c.cascDir }) },
    { path: `${dir}/plugins.txt`, content: renderPluginsTxt(team) },
    { path: `${dir}/seedJob.groovy`, content: renderSeedJob(team, ctx) },
  ];
}

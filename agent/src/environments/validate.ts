import type Docker from 'dockerode';
import { otherEnvironment, type EnvironmentName, type Team } from '../../../catalog/teams-file';
import { listArchiveEntries } from '../docker/archive';
import { JENKINS_HOME_IN_CONTAINER } from '../docker/container-spec';
import { inspectContainer, inspectManaged } from '../docker/containers';
import { hasDockerHealthcheck } from '../docker/health';
import type { JenkinsClient } from '../jenkins/client';
import type { EnvironmentStateStore, OperationContext } from '../store/contract';
import type { JenkinsClientFactory } from './controllers';
import { report } from './journal-step';
import { judgeAgents, judgeApi, judgeContainer, judgeJobs, judgePlugins, judgeUser, VALIDATION_CHECKS, type CheckResult, type ValidationCheckName } from './validate-checks';

export interface ValidateDeps {
  docker: Docker;
  jenkinsFor: JenkinsClientFactory;
  /** When given, the verdict is recorded as the environment's health. */
  environments?: EnvironmentStateStore;
}

export interface ValidateParams {
  environment: EnvironmentName;
  checks?: ValidationCheckName[];
  /** Compare jobs and plugins with this side; default: the other side when it runs. */
  source?: EnvironmentName;
  /** api_responsiveness threshold (as the rollback trigger response_time > 2000ms). */
  apiThresholdMs?: number;
  /** Default: the team's required_agents. */
  requiredAgents?: string[];
}

export interface ValidateResult {
  passed: boolean;
  environment: EnvironmentName;
  source: EnvironmentName | null;
  checks: CheckResult[];
}

async function pluginsOnDisk(docker: Docker, containerId: string): Promise<Array<{ shortName: string; disabled: boolean }>> {
  let entries: Array<{ name: string }>;
  try {
    entries = await listArchiveEntries(await docker.getContainer(containerId).getArchive({ path: `${JENKINS_HOME_IN_CONTAINER}/plugins` }));
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return []; // no plugins directory
    throw err;
  }
  const names = new Set(entries.map((e) => e.name.replace(/^plugins\//, '')));
  const out: Array<{ shortName: string; disabled: boolean }> = [];
  for (const n of names) {
    const m = /^([^/]+)\.(jpi|hpi)$/.exec(n);
    if (m) out.push({ shortName: m[1], disabled: names.has(`${n}.disabled`) });
  }
  return out;
}

const failedCheck = (name: ValidationCheckName, err: unknown): CheckResult => ({ name, passed: false, figure: null, reason: (err as Error)?.message ?? String(err) });

/**
 * environment.validate: the six validation checks against one environment. A
 * failed check is a result (passed:false with its reason), not an error: the
 * caller decides whether to roll back.
 */
export async function validateEnvironment(deps: ValidateDeps, team: Team, params: ValidateParams, ctx?: OperationContext): Promise<ValidateResult> {
  const env = params.environment;
  const checks = params.checks?.length ? params.checks : [...VALIDATION_CHECKS];
  const containerName = team.environments[env].container;
  const client = deps.jenkinsFor(team, env);

  // The comparison side: explicit, or the other side when its managed container runs.
  let source: EnvironmentName | null = params.source ?? null;
  if (!source && (checks.includes('job_restoration') || checks.includes('plugin_compatibility'))) {
    const other = otherEnvironment(env);
    const c = await inspectManaged(deps.docker, team.environments[other].container, team.team_name, other).catch(() => null);
    if (c?.running) source = other;
  }
  let sourceClient: JenkinsClient | null = null;
  if (source && source !== env) sourceClient = deps.jenkinsFor(team, source);
  const sourceLabel = source ? `${team.team_name}/${source}` : null;

  const run: Record<ValidationCheckName, () => Promise<CheckResult>> = {
    container_health: async () => {
      const info = await inspectContainer(deps.docker, containerName);
      const login = info && !hasDockerHealthcheck(info) ? await client.probeLogin() : null;
      return judgeContainer('container_health', containerName, info, login);
    },
    api_responsiveness: async () => {
      const threshold = params.apiThresholdMs ?? 2000;
      try {
        const { ms, status } = await client.timedGet('/api/json', Math.max(threshold * 3, 5000));
        return judgeApi(ms, status, threshold);
      } catch (err) {
        return failedCheck('api_responsiveness', err);
      }
    },
    job_restoration: async () => {
      const target = await client.listJobs();
      const src = sourceClient ? await sourceClient.listJobs() : null;
      return judgeJobs(target, src, sourceLabel);
    },
    plugin_compatibility: async () => {
      const info = await inspectContainer(deps.docker, containerName);
      const disk = info?.State?.Running ? await pluginsOnDisk(deps.docker, info.Id) : [];
      const src = sourceClient ? await sourceClient.plugins() : null;
      return judgePlugins(await client.plugins(), disk, src);
    },
    user_access: async () => {
      try {
        return judgeUser(await client.whoAmI(), team.jenkins_user, null);
      } catch (err) {
        return judgeUser(null, team.jenkins_user, (err as Error).message);
      }
    },
    agent_connectivity: async () => judgeAgents(await client.computers(), params.requiredAgents ?? team.required_agents),
  };

  const results: CheckResult[] = [];
  for (const name of checks) {
    let r: CheckResult;
    try {
      r = await run[name]();
    } catch (err) {
      r = failedCheck(name, err);
    }
    results.push(r);
    report(ctx, 'check', `${name}: ${r.passed ? 'pass' : 'FAIL'} (${r.figure ?? '-'}) ${r.reason}`, { check: r });
  }
  const passed = results.every((r) => r.passed);
  await deps.environments?.recordHealth(team.team_name, env, passed ? 'validated' : 'validation_failed', { checks: results.map((r) => ({ name: r.name, passed: r.passed })) });
  return { passed, environment: env, source, checks: results };
}

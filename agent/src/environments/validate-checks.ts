import { VALIDATION_CHECK_NAMES } from '../../../catalog/methods/environment';
import type Docker from 'dockerode';
import type { JobSummary, PluginInfo, WhoAmI, ComputerSet } from '../jenkins/api-types';

/**
 * Pure verdicts of the six validation checks. Each says pass/fail,
 * its figure and why, in words an operator can act on. The fetching lives in
 * validate.ts; these functions only judge what was fetched.
 */
export const VALIDATION_CHECKS = VALIDATION_CHECK_NAMES;
export type ValidationCheckName = (typeof VALIDATION_CHECK_NAMES)[number];

export interface CheckResult {
  name: ValidationCheckName;
  passed: boolean;
  figure: string | number | null;
  reason: string;
}

export function judgeContainer(name: ValidationCheckName, container: string, info: Docker.ContainerInspectInfo | null, loginOk: boolean | null): CheckResult {
  if (!info) return { name, passed: false, figure: 'absent', reason: `container ${container} does not exist; deploy it (environment.deploy)` };
  if (!info.State?.Running) return { name, passed: false, figure: info.State?.Status ?? 'unknown', reason: `container ${container} is ${info.State?.Status} (exit code ${info.State?.ExitCode}); see docker logs ${container}` };
  const health = info.State.Health;
  if (health?.Status) {
    if (health.Status === 'healthy') return { name, passed: true, figure: 'healthy', reason: `container ${container} is running and its Docker health check passes` };
    const last = health.Log?.[health.Log.length - 1];
    return { name, passed: false, figure: health.Status, reason: `container ${container} is ${health.Status} (${health.FailingStreak ?? 0} failing checks${last ? `, last exit ${last.ExitCode}` : ''}); see docker inspect ${container}` };
  }
  return loginOk
    ? { name, passed: true, figure: 'running', reason: `container ${container} is running (no Docker health check) and /login answers 200` }
    : { name, passed: false, figure: 'running', reason: `container ${container} is running but /login does not answer 200` };
}

export function judgeApi(ms: number, status: number, thresholdMs: number): CheckResult {
  const name = 'api_responsiveness';
  if (status !== 200) return { name, passed: false, figure: ms, reason: `GET /api/json answered HTTP ${status} in ${ms} ms (expected 200 under ${thresholdMs} ms)` };
  if (ms > thresholdMs) return { name, passed: false, figure: ms, reason: `GET /api/json took ${ms} ms, over the ${thresholdMs} ms threshold` };
  return { name, passed: true, figure: ms, reason: `GET /api/json answered in ${ms} ms (threshold ${thresholdMs} ms)` };
}

/** Every job of the source exists on the target, and no nextBuildNumber went down. */
export function judgeJobs(target: JobSummary[], source: JobSummary[] | null, sourceLabel: string | null): CheckResult {
  const name = 'job_restoration';
  if (!source) return { name, passed: true, figure: target.length, reason: `${target.length} items listed; no source environment to compare with (pass source, or run the other side)` };
  const byName = new Map(target.map((j) => [j.fullName, j]));
  const missing = source.filter((j) => !byName.has(j.fullName)).map((j) => j.fullName);
  const regressed = source
    .filter((j) => j.nextBuildNumber !== null && (byName.get(j.fullName)?.nextBuildNumber ?? Infinity) < j.nextBuildNumber)
    .map((j) => `${j.fullName} (${j.nextBuildNumber} → ${byName.get(j.fullName)?.nextBuildNumber})`);
  const figure = `${source.length - missing.length}/${source.length}`;
  if (missing.length) return { name, passed: false, figure, reason: `missing ${missing.length} job(s) of ${sourceLabel}: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}` };
  if (regressed.length) return { name, passed: false, figure, reason: `build numbers went down (would reuse numbers): ${regressed.slice(0, 10).join(', ')}` };
  return { name, passed: true, figure, reason: `all ${source.length} items of ${sourceLabel} are present` };
}

/**
 * A plugin that failed to load is absent from the API, not flagged: compare
 * what is installed on disk (and what the source runs) with what is active.
 */
export function judgePlugins(api: PluginInfo[], onDisk: Array<{ shortName: string; disabled: boolean }>, source: PluginInfo[] | null): CheckResult {
  const name = 'plugin_compatibility';
  const active = new Map(api.filter((p) => p.active).map((p) => [p.shortName, p]));
  const listed = new Set(api.map((p) => p.shortName));
  const failed = onDisk.filter((p) => !p.disabled && !listed.has(p.shortName)).map((p) => p.shortName);
  const inactive = api.filter((p) => !p.active).map((p) => p.shortName);
  const missingFromSource = (source ?? []).filter((p) => p.active && !active.has(p.shortName) && !failed.includes(p.shortName) && !inactive.includes(p.shortName)).map((p) => p.shortName);
  const problems = failed.length + inactive.length + missingFromSource.length;
  const figure = `${active.size} active, ${problems} problem(s)`;
  if (!problems) return { name, passed: true, figure, reason: `all ${active.size} plugins are active${source ? ' and match the source' : ''}` };
  const parts: string[] = [];
  if (failed.length) parts.push(`failed to load: ${failed.join(', ')}`);
  if (inactive.length) parts.push(`inactive: ${inactive.join(', ')}`);
  if (missingFromSource.length) parts.push(`active on the source but not here: ${missingFromSource.join(', ')}`);
  return { name, passed: false, figure, reason: `${parts.join('; ')}; check the controller's log and plugins.txt` };
}

export function judgeUser(who: WhoAmI | null, expectedUser: string, failure: string | null): CheckResult {
  const name = 'user_access';
  if (!who) return { name, passed: false, figure: 'rejected', reason: failure ?? `the service account ${expectedUser} could not be checked` };
  const ok = !who.anonymous && who.name === expectedUser && (who.authorities ?? []).includes('authenticated');
  return ok
    ? { name, passed: true, figure: who.name, reason: `service account ${expectedUser} is authenticated` }
    : { name, passed: false, figure: who.name, reason: `expected to be authenticated as ${expectedUser}, Jenkins says ${who.anonymous ? 'anonymous' : who.name}` };
}

export function judgeAgents(computers: ComputerSet, required: string[]): CheckResult {
  const name = 'agent_connectivity';
  const byName = new Map(computers.computer.map((c) => [c.displayName, c]));
  const offline = required.filter((r) => byName.has(r) && byName.get(r)?.offline);
  const unknown = required.filter((r) => !byName.has(r));
  const online = required.length - offline.length - unknown.length;
  const figure = `${online}/${required.length}`;
  if (!required.length) return { name, passed: true, figure, reason: `no required agents configured (${computers.computer.filter((c) => !c.offline).length} nodes online)` };
  if (offline.length || unknown.length) {
    const parts: string[] = [];
    if (offline.length) parts.push(`offline: ${offline.map((o) => `${o} (${byName.get(o)?.offlineCauseReason || 'no reason given'})`).join(', ')}`);
    if (unknown.length) parts.push(`not configured: ${unknown.join(', ')}`);
    return { name, passed: false, figure, reason: `required agents ${parts.join('; ')}` };
  }
  return { name, passed: true, figure, reason: `all ${required.length} required agents are online` };
}

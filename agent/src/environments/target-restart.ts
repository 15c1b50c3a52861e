import type Docker from 'dockerode';
import type { Team } from '../../../catalog/teams-file';
import { dockerDown, type ManagedContainer } from '../docker/containers';
import { waitHealthy } from '../docker/health';
import { SidecarError } from '../sidecar-error';
import type { JenkinsClient } from '../jenkins/client';
import type { EnvironmentStateStore, OperationContext } from '../store/contract';
import { journaled, report, type StepJournal } from './journal-step';
import { isServing } from './serving-side';

/**
 * Why a migration that wrote into the target's secrets/ restarts it instead
 * of asking for /reload (jenkinsci/jenkins, core/src/main/java):
 * - jenkins/model/Jenkins.java, the Jenkins constructor, calls
 *   ConfidentialStore.get() once ("fail fast"); ConfidentialStore.get() keeps
 *   the store in Jenkins.lookup for the life of the process, and
 *   DefaultConfidentialStore's constructor reads secrets/master.key into a
 *   final field. /reload builds no new Jenkins, so the old master key stays.
 * - DefaultConfidentialStore.load() answers null ("broken somehow") for a key
 *   file it cannot decrypt; CryptoConfidentialKey.getKey() and
 *   HMACConfidentialKey.getKey() then make a new key, store() it over the
 *   copied file and cache it. So the migrated agent secrets (HMAC
 *   jenkins.slaves.JnlpSlaveAgentProtocol.secret) are refused, and
 *   hudson.util.Secret.decrypt() (its KEY is a CryptoConfidentialKey) answers
 *   null for every copied credential.
 * - The same constructor reads secret.key (the legacy key HistoricalSecrets
 *   decrypts old-format secrets with) into the final field Jenkins.secretKey.
 * Only a new process, started on the copied files, reads the source's keys.
 */

/** Pure: the key files among the entries the copy wrote or removed (secrets/**, secret.key; paths relative to JENKINS_HOME). */
export function secretsTouched(paths: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const p of paths) if (p === 'secrets' || p.startsWith('secrets/') || p === 'secret.key') out.add(p);
  out.delete('secrets'); // the directory alone holds no key: what counts are the files in it
  return [...out].sort();
}

export interface TargetRestart {
  restarted: boolean;
  /** Why it was restarted, null when a reload was enough. */
  reason: string | null;
  /** The key files (secrets/**, secret.key) the copy changed (up to 20). */
  secrets: string[];
  /** How long the target took to answer and be healthy again. */
  sec: number;
}

export interface RestartScope {
  docker: Docker;
  team: Team;
  dstC: ManagedContainer;
  dst: JenkinsClient;
  dstLabel: string;
  journal?: StepJournal;
  /** When given, a target that carries traffic is never restarted (CONFLICT instead). */
  environments?: Pick<EnvironmentStateStore, 'ensure'>;
  timeoutSec: number;
  graceSec?: number;
  ctx?: OperationContext;
  now?: () => number;
}

/** CONFLICT when the target carries traffic: a restart would cut everyone using it. */
async function refuseIfTargetServes(s: RestartScope, changed: readonly string[]): Promise<void> {
  if (!s.environments) return;
  const env = s.dstC.environment;
  const state = await s.environments.ensure(s.team.team_name, s.team.active_environment);
  if (!isServing(state, env)) return;
  throw new SidecarError(
    'CONFLICT',
    `${s.dstLabel} must restart to use the copied key files (${changed.slice(0, 5).join(', ')}), but it carries traffic (desired weights blue=${state.weights.blue} green=${state.weights.green}): migrate into the side without traffic`,
    { reason: 'target_serving', team: s.team.team_name, environment: env, weights: state.weights, secrets: changed.slice(0, 20) },
  );
}

/**
 * Restarts the target's container (its volume is kept) and waits, bounded,
 * until it answers and is healthy, with a progress line while it starts
 * (journaled as restart_target).
 */
export async function restartTarget(s: RestartScope, changed: readonly string[], onRestartAsked: () => void): Promise<TargetRestart> {
  await refuseIfTargetServes(s, changed);
  const now = s.now ?? Date.now;
  const reason = `the copy changed ${changed.length} key file(s) (${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ', …' : ''}): Jenkins reads its master key only when it starts`;
  report(s.ctx, 'restart', `restarting ${s.dstLabel} instead of reloading it: ${reason}`, { secrets: changed.slice(0, 20) });
  const t0 = now();
  await journaled(s.journal, s.ctx, 'restart_target', { environment: s.dstC.environment, container: s.dstC.name, secrets: changed.slice(0, 20) }, async () => {
    onRestartAsked();
    try {
      await s.docker.getContainer(s.dstC.id).restart({ t: s.graceSec ?? 30 });
    } catch (err) {
      throw dockerDown(`restart ${s.dstC.name}`, err);
    }
    await waitHealthy(s.docker, s.dstC.id, s.dstC.name, {
      timeoutMs: s.timeoutSec * 1000,
      probe: () => s.dst.probeLogin(),
      signal: s.ctx?.signal,
      onWaiting: (detail, ms) => report(s.ctx, 'restart', `${s.dstLabel} not healthy yet ${Math.round(ms / 1000)}s after its restart: ${detail}`),
    });
  });
  const sec = (now() - t0) / 1000;
  report(s.ctx, 'restarted', `${s.dstLabel} is healthy again ${sec.toFixed(1)}s after its restart`, { sec });
  return { restarted: true, reason, secrets: changed.slice(0, 20), sec };
}

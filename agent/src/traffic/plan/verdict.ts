import type { EnvironmentName } from '../../../../catalog/teams-file';
import { isServerUp } from '../../haproxy/stats';
import { isoSeconds } from '../../store/names';
import { splitWeights, type Weights } from '../team-backends';
import type { HaproxyFacts, SideFacts } from './side-facts';
import type { PlannedStep } from './steps';
import type { StoreFacts } from './store-facts';

/**
 * Pure: from what was read, what the switch would do and whether it would start.
 * A blocker is what makes traffic.switch refuse or fail before the first move
 * (switch.ts checkPreconditions, phases/prepare-target.ts, the one-switch slot of
 * rpc/methods/traffic.ts); a warning is what it would meet or cause on the way.
 */
export interface Finding {
  check: string;
  detail: string;
}

export interface VerdictInput {
  team: string;
  source: EnvironmentName;
  target: EnvironmentName;
  lockToken: number | undefined;
  readyTimeoutSec: number;
  drainTimeoutSec: number;
  syncTarget: boolean;
  store: StoreFacts;
  haproxy: HaproxyFacts;
  sides: Record<EnvironmentName, SideFacts>;
  steps: PlannedStep[];
  /** What the sidecar has configured: the pre-switch sync, REST clients (agents follow), trigger handover, a pre-switch webhook. */
  configured: { targetSync: boolean; agents: boolean; triggers: boolean; preSwitchWebhook: boolean };
}

export interface Verdict {
  alreadyActive: boolean;
  blockers: Finding[];
  warnings: Finding[];
  prepareTarget: { action: 'none' | 'set-ready' | 'wait-up' | 'refuse'; detail: string; waitUpToSec: number };
  sync: { runs: boolean; detail: string };
  drain: { server: string; timeoutSec: number; sessionsNow: number | null; detail: string };
  rollback: { weights: Weights; detail: string };
  afterPromotion: string[];
}

/** lock.acquire's grant and the token the switch would pass (switch.ts assertHeld). */
function fenceBlockers(v: VerdictInput): Finding[] {
  const { grant, lock, isHolder } = v.store;
  if (!grant) return [{ check: 'fence', detail: `nobody holds lock ${lock}: take it first (lock.acquire operation ${lock.split(':')[1]}) and pass its token` }];
  const held = `held by ${grant.holder} with token ${grant.token} until ${isoSeconds(grant.expiresAt)}`;
  if (v.lockToken === undefined) return [];
  return isHolder ? [] : [{ check: 'fence', detail: `token ${v.lockToken} is not the live grant of ${lock} (${held}): the switch would be refused with FENCED` }];
}

function storeBlockers(v: VerdictInput): Finding[] {
  const out = fenceBlockers(v);
  const b = v.store.breaker;
  if (b.wouldAdmit === 'no') out.push({ check: 'breaker', detail: `circuit breaker ${b.name} is open after ${b.failures} failures (last: ${b.lastReason ?? 'unknown'}); retry after ${b.retryAt ? isoSeconds(b.retryAt) : 'later'}` });
  for (const op of v.store.running.filter((o) => o.type === 'traffic.switch')) {
    out.push({ check: 'switch_running', detail: `switch ${op.id} of ${v.team} is running (phase ${op.phase}, by ${op.initiatedBy}, on ${op.ownerInstance}): one switch per team at a time` });
  }
  return out;
}

/**
 * Docker states of a container that is there and not running: it cannot pass a health check. Not
 * `missing` or `unknown`: a controller run some other way than by this sidecar's Docker may be fine.
 */
const STOPPED = new Set(['created', 'exited', 'paused', 'dead', 'removing']);

/** What prepare-target would do with the target's server (phases/prepare-target.ts), and whether it could. */
function prepareTarget(v: VerdictInput): { plan: Verdict['prepareTarget']; blockers: Finding[] } {
  const t = v.sides[v.target];
  const wait = v.readyTimeoutSec;
  if (!t.haproxy) {
    const detail = `HAProxy shows no server ${t.server}`;
    return { plan: { action: 'refuse', detail, waitUpToSec: 0 }, blockers: v.haproxy.answered ? [{ check: 'target', detail }] : [] };
  }
  const dead = t.container && STOPPED.has(t.container.state) ? `its container ${t.container.name} is ${t.container.state}` : null;
  if (t.haproxy.admin !== 'ready') {
    const plan = { action: 'set-ready' as const, detail: `${t.server} is in ${t.haproxy.admin}: set ready, then wait up to ${wait}s for its health checks to say UP`, waitUpToSec: wait };
    return { plan, blockers: dead ? [{ check: 'target', detail: `${t.server} is in ${t.haproxy.admin} and ${dead}: it cannot pass its health checks; deploy or start ${v.target} first (environment.deploy)` }] : [] };
  }
  if (isServerUp(t.haproxy)) return { plan: { action: 'none', detail: `${t.server} is UP`, waitUpToSec: 0 }, blockers: [] };
  const why = `${t.server} is ${t.haproxy.status} in HAProxy (check: ${t.haproxy.checkStatus || '-'})${dead ? ` and ${dead}` : ''}`;
  const plan = { action: dead ? ('refuse' as const) : ('wait-up' as const), detail: `${why}: the switch would wait up to ${wait}s for UP, then refuse (target_not_ready)`, waitUpToSec: wait };
  return { plan, blockers: [{ check: 'target', detail: `${why}; deploy or fix ${v.target} first (environment.deploy / environment.validate). No traffic would move` }] };
}

function syncPlan(v: VerdictInput): Verdict['sync'] {
  if (!v.syncTarget) return { runs: false, detail: 'not asked for (syncTarget false): the target serves with the state it has' };
  if (!v.configured.targetSync) return { runs: false, detail: 'asked for, but this sidecar has no Docker to copy with: the switch goes on without it' };
  if (v.store.environment.weights[v.target] !== 0) return { runs: false, detail: `asked for, but ${v.target} already has traffic (${v.store.environment.weights[v.target]}%): a side with traffic is not reloaded` };
  const running = v.sides[v.source].jenkins?.running ?? [];
  const wait = running.length ? `waits for its running builds (${running.join(', ')})` : 'has no running builds to wait for';
  return {
    runs: true,
    detail: `before the first move: ${v.source} is quieted down (no new builds start there) and ${wait}, its home is copied to ${v.target} (pre-copy, then the delta), ${v.target} is reloaded (or restarted when key files changed) while it has no traffic, then ${v.source} gets its executors back`,
  };
}

function sideWarnings(v: VerdictInput): Finding[] {
  const out: Finding[] = [];
  const src = v.sides[v.source];
  const tgt = v.sides[v.target];
  if (src.jenkins?.running.length) out.push({ check: 'builds', detail: `builds running on ${v.source}: ${src.jenkins.running.join(', ')} (they go on there; ${v.syncTarget ? 'the pre-switch sync waits for them' : 'the switch does not wait for them'})` });
  if (src.jenkins?.queued.length) out.push({ check: 'queue', detail: `queued on ${v.source}: ${src.jenkins.queued.join(', ')}` });
  if (src.jenkins?.agents.length) out.push({ check: 'agents', detail: `inbound agents on ${v.source}: ${src.jenkins.agents.join(', ')}; ${v.configured.agents ? `after the promotion each moves to ${v.target} once idle (up to ${v.drainTimeoutSec}s)` : 'they stay there (no REST client)'}` });
  if (tgt.jenkins?.running.length) out.push({ check: 'builds', detail: `builds running on ${v.target}, which has no traffic: ${tgt.jenkins.running.join(', ')}` });
  if (src.haproxy?.sessions) out.push({ check: 'sessions', detail: `${src.haproxy.sessions} sessions open on ${src.server}: the drain waits up to ${v.drainTimeoutSec}s for them, then maint` });
  for (const env of [v.source, v.target]) {
    const j = v.sides[env].jenkins;
    if (j && !j.answered && !(env === v.target && tgt.haproxy && !isServerUp(tgt.haproxy))) out.push({ check: 'jenkins', detail: `${v.team}/${env}'s REST API did not answer: ${j.error ?? 'no answer'}` });
  }
  return out;
}

function storeWarnings(v: VerdictInput): Finding[] {
  const out: Finding[] = [];
  const { grant, lock } = v.store;
  if (grant && v.lockToken === undefined) out.push({ check: 'fence', detail: `${lock} is held by ${grant.holder} with token ${grant.token} until ${isoSeconds(grant.expiresAt)}; pass lockToken to check it is yours` });
  if (v.store.breaker.wouldAdmit === 'as-trial') out.push({ check: 'breaker', detail: `circuit breaker ${v.store.breaker.name} is half-open: the switch would be its one trial (refused if another trial is in flight)` });
  const c = v.store.consensus;
  if (c.state === 'pending' || c.state === 'denied') out.push({ check: 'consensus', detail: `the latest consensus request of ${v.team} (${c.operation ?? '?'}) is ${c.state}${c.reason ? `: ${c.reason}` : ''}` });
  for (const op of v.store.running.filter((o) => o.type !== 'traffic.switch')) out.push({ check: 'running', detail: `${op.type} ${op.id} is running for ${v.team} (phase ${op.phase})` });
  if (v.haproxy.live && !sameWeights(v.haproxy.live, v.store.environment.weights)) out.push({ check: 'weights', detail: `HAProxy holds ${JSON.stringify(v.haproxy.live)}, the desired weights are ${JSON.stringify(v.store.environment.weights)} (the reconcile loop re-applies the desired ones)` });
  return out;
}

const sameWeights = (a: Weights, b: Weights): boolean => a.blue === b.blue && a.green === b.green;

export function judgePlan(v: VerdictInput): Verdict {
  const { source, target, store } = v;
  const alreadyActive = store.environment.active === target && store.environment.weights[target] === 100 && store.environment.weights[source] === 0;
  const prep = prepareTarget(v);
  const blockers = [...storeBlockers(v), ...(v.haproxy.answered ? [] : [{ check: 'haproxy', detail: `HAProxy could not be read: ${v.haproxy.error ?? 'no answer'}` }]), ...(alreadyActive ? [] : prep.blockers)];
  const gates = v.steps.filter((s) => s.gate).map((s) => `${s.percent}%`);
  const warnings = [
    ...storeWarnings(v),
    ...sideWarnings(v),
    ...(gates.length ? [{ check: 'gates', detail: `the switch waits for a person (traffic.resume) before ${gates.join(', ')}` }] : []),
    ...(v.configured.preSwitchWebhook ? [{ check: 'webhook', detail: `the team's pre_switch webhook is asked first and may refuse the switch` }] : []),
  ];
  const lkg = store.environment.lastKnownGood;
  const src = v.sides[source];
  return {
    alreadyActive,
    blockers,
    warnings,
    prepareTarget: prep.plan,
    sync: syncPlan(v),
    drain: {
      server: src.server,
      timeoutSec: v.drainTimeoutSec,
      sessionsNow: src.haproxy?.sessions ?? null,
      detail: `after 100% is validated: ${src.server} drains (no new requests) until its sessions reach 0 or ${v.drainTimeoutSec}s pass, then maint; then ${target} is promoted (active, last known good)`,
    },
    rollback: {
      weights: splitWeights(source, 100),
      detail: `on a breach, an abort or a failure after the first move: all traffic back on ${source} at once (${target} at 0, signed-in people on ${target} included)${source === lkg ? '' : ` (the last known good side is ${lkg}: an emergency stop would go there)`}; the breaker counts a breach${v.configured.triggers ? `; webhooks and queued builds route back to ${source}` : ''}`,
    },
    afterPromotion: [
      ...(v.configured.agents ? [`inbound agents on ${source} move to ${target} once idle (up to ${v.drainTimeoutSec}s)`] : []),
      ...(v.configured.triggers ? [`webhooks and queued builds follow ${target}`] : []),
      'the breaker records a success and the switch is audited as promoted',
    ],
  };
}

import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import type { JenkinsClientFactory } from '../environments/controllers';
import type { QueueItemWithParameters } from '../jenkins/api-types';
import type { JenkinsClient } from '../jenkins/client';
import type { AuditLog, OperationContext } from '../store/contract';
import type { HaproxyDriver } from '../haproxy/runtime-api';
import { routeTriggers, type TriggerRoute } from './trigger-route';

/**
 * Builds queued on a controller that will not run them (quieted down for a
 * migration, or the side a switch leaves) are handed to the side that serves
 * next: read over REST with their parameters, queued again there, then
 * cancelled where they were. Jenkins keeps every item queued while it quiets
 * down (core Queue.isBlockedByShutdown), so without this they would wait on a
 * controller that no longer gets traffic.
 */
export interface HandedItem {
  /** The item's id on the side it left. */
  sourceId: number;
  job: string;
  /** Parameter names (values are not written to the audit: they may be secrets). */
  parameters: string[] | null;
  /** Location of the new queue item on the receiving side. */
  targetItem: string | null;
  /** False: the item had already left the source queue when it was cancelled (it may have run there too). */
  cancelled: boolean;
}

export interface LeftItem {
  sourceId: number;
  job: string | null;
  why: string;
}

export interface QueueHandoverResult {
  from: EnvironmentName;
  to: EnvironmentName;
  route: TriggerRoute | { routed: false; why: string };
  handed: HandedItem[];
  left: LeftItem[];
}

interface Move {
  id: number;
  job: string;
  parameters: Array<{ name: string; value: string }> | null;
}

/** A queue item's job from its task url (`…/job/a/job/b/`), null for a task that is not a job. */
export function jobOfTaskUrl(url: string | undefined): string | null {
  if (!url) return null;
  let path: string;
  try {
    path = new URL(url, 'http://controller/').pathname;
  } catch {
    return null;
  }
  const segs = path.split('/').filter(Boolean);
  const start = segs.indexOf('job');
  if (start < 0) return null;
  const names: string[] = [];
  for (let k = start; k + 1 < segs.length && segs[k] === 'job'; k += 2) names.push(decodeURIComponent(segs[k + 1]));
  return names.length ? names.join('/') : null;
}

/** Pure: which items can be queued again elsewhere, and why the others cannot. */
export function planHandover(items: readonly QueueItemWithParameters[]): { moves: Move[]; left: LeftItem[] } {
  const moves: Move[] = [];
  const left: LeftItem[] = [];
  for (const item of items) {
    const job = jobOfTaskUrl(item.task?.url);
    if (!job) {
      left.push({ sourceId: item.id, job: null, why: `task ${item.task?.name ?? '?'} is not a job (no /job/ url)` });
      continue;
    }
    const values = (item.actions ?? []).flatMap((a) => a?.parameters ?? []);
    const unreadable = values.find((p) => p.value === undefined || p.value === null || typeof p.value === 'object');
    if (unreadable) {
      left.push({ sourceId: item.id, job, why: `parameter ${unreadable.name} has no value over REST (a password or file parameter): left queued where it is` });
      continue;
    }
    const isParameterized = (item.actions ?? []).some((a) => a?._class === 'hudson.model.ParametersAction' || Array.isArray(a?.parameters));
    moves.push({ id: item.id, job, parameters: isParameterized ? values.map((p) => ({ name: p.name, value: String(p.value) })) : null });
  }
  return { moves, left };
}

/** Queues each item on `to` first and cancels it on `from` only once `to` took it: an item is never lost. */
export async function handOverQueue(from: JenkinsClient, to: JenkinsClient): Promise<{ handed: HandedItem[]; left: LeftItem[] }> {
  const { moves, left } = planHandover(await from.queueWithParameters());
  const handed: HandedItem[] = [];
  for (const m of moves) {
    let targetItem: string | null;
    try {
      targetItem = await to.scheduleBuild(m.job, m.parameters);
    } catch (err) {
      left.push({ sourceId: m.id, job: m.job, why: `${to.label} did not queue it: ${(err as Error).message}` });
      continue;
    }
    const cancelled = await from.cancelQueueItem(m.id).catch(() => false);
    handed.push({ sourceId: m.id, job: m.job, parameters: m.parameters?.map((p) => p.name) ?? null, targetItem, cancelled });
  }
  return { handed, left };
}

export interface TriggerHandoverDeps {
  haproxy: HaproxyDriver;
  jenkinsFor: JenkinsClientFactory;
  audit?: AuditLog;
  log?: { warn(m: string, meta?: Record<string, unknown>): void };
}

/** What state.migrate and traffic.switch call when the side that runs builds changes. */
export interface TriggerHandover {
  /** Triggers to `to`, then `from`'s queue handed to it; never throws (what failed is in the result). */
  moveTo(team: Team, from: EnvironmentName, to: EnvironmentName, ctx?: OperationContext): Promise<QueueHandoverResult>;
  /**
   * The same for a rollback: resolves once the triggers moved and hands the queue over in the
   * background (a rollback must not wait on the controller it leaves: it may be the one that hangs).
   */
  moveBackTo(team: Team, from: EnvironmentName, to: EnvironmentName, ctx?: OperationContext): Promise<QueueHandoverResult['route']>;
}

export function triggerHandover(deps: TriggerHandoverDeps): TriggerHandover {
  return {
    async moveTo(team, from, to, ctx) {
      return handOver(deps, team, from, to, await routed(deps, team, to), ctx, true);
    },
    async moveBackTo(team, from, to, ctx) {
      const route = await routed(deps, team, to);
      void handOver(deps, team, from, to, route, ctx, false);
      return route;
    },
  };
}

const routed = (deps: TriggerHandoverDeps, team: Team, to: EnvironmentName): Promise<QueueHandoverResult['route']> =>
  routeTriggers(deps.haproxy, team, to).catch((err: unknown) => ({ routed: false as const, why: `routing triggers to ${to} failed: ${(err as Error).message}` }));

/** The queue of `from` handed to `to`, told in progress (`tell`: while the operation still runs), the log and the audit. */
async function handOver(deps: TriggerHandoverDeps, team: Team, from: EnvironmentName, to: EnvironmentName, route: QueueHandoverResult['route'], ctx: OperationContext | undefined, tell: boolean): Promise<QueueHandoverResult> {
  const name = team.team_name;
  let items: { handed: HandedItem[]; left: LeftItem[] };
  try {
    items = await handOverQueue(deps.jenkinsFor(team, from), deps.jenkinsFor(team, to));
  } catch (err) {
    items = { handed: [], left: [{ sourceId: -1, job: null, why: `reading the queue of ${name}/${from} failed: ${(err as Error).message}` }] };
  }
  const result: QueueHandoverResult = { from, to, route, ...items };
  const routed = route.routed ? `triggers now reach ${to}` : `triggers not rerouted (${route.why})`;
  if (tell) ctx?.progress({ phase: 'triggers', message: `${routed}; ${items.handed.length} queued build(s) handed from ${from} to ${to}${items.left.length ? `, ${items.left.length} left: ${items.left.map((l) => l.why).join('; ')}` : ''}`, handed: items.handed.length, left: items.left.length });
  if (!route.routed || items.left.length) deps.log?.warn('trigger handover incomplete', { team: name, from, to, route, left: items.left });
  await deps.audit
    ?.record({
      operationType: 'traffic.queue-handover',
      team: name,
      sourceEnvironment: from,
      targetEnvironment: to,
      initiatedBy: ctx?.actor.build ?? ctx?.actor.tokenId ?? 'sidecar',
      status: items.left.length || !route.routed ? 'partial' : 'done',
      metadata: { route, handed: items.handed, left: items.left },
      ...(ctx ? { actor: ctx.actor, operationId: ctx.operation.id } : {}),
      completedAt: new Date(),
    })
    .catch((err: unknown) => deps.log?.warn('could not write the audit record of a queue handover', { team: name, error: String(err) }));
  return result;
}

import { coordinationNodeName } from '../../../catalog/coordination-node';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import type { JenkinsClientFactory } from '../environments/controllers';
import type { ComputerInfo, ExecutorInfo } from '../jenkins/api-types';
import type { OperationContext } from '../store/contract';

/**
 * After a promotion, inbound agents still connected to the old controller are
 * moved to the serving one: each is disconnected through the old controller's
 * REST API (SlaveComputer#doDoDisconnect) once its executors are idle, never
 * while it runs a build; remoting's Engine then connects again by itself
 * through HAProxy, whose old server is in maint, so it reaches the new side
 * with the same secret (both sides hold the same secrets/ and nodes/).
 *
 * Only agents that connect by themselves are moved: a node whose launcher is
 * hudson.slaves.JNLPLauncher (what DefaultJnlpSlaveReceiver accepts). An SSH
 * or cloud agent is launched by its controller: disconnecting it would not
 * bring it to the other side. Each controller's own coordination agent stays.
 */
export interface AgentHandoverReport {
  /** Disconnected from the old side; `afterBuilds` are the builds it was waited for first. */
  moved: Array<{ agent: string; waitedMs: number; afterBuilds: string[] }>;
  /** Still running builds on the old side when the wait ended: left connected there. */
  stillBuilding: Array<{ agent: string; builds: string[] }>;
  /** Of the moved agents, those the new side listed online before the wait ended. */
  arrived: string[];
  /** Connected to the old side but not moved, with why (own node, not inbound, launcher unreadable). */
  skipped: Array<{ agent: string; reason: string }>;
  /** Set when the old controller could not be asked: nothing more was moved. */
  error?: string;
}

export interface AgentHandoverDeps {
  jenkinsFor: JenkinsClientFactory;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface AgentHandoverOptions {
  /** How long to wait for builds to end (and for moved agents to arrive). */
  timeoutMs: number;
  pollMs?: number;
}

const AGENT_CLASS = 'hudson.slaves.SlaveComputer';
const INBOUND_LAUNCHER = /<launcher\s+class="hudson\.slaves\.JNLPLauncher"/;

const running = (executors: ExecutorInfo[] | undefined): string[] =>
  (executors ?? []).filter((e) => e.currentExecutable).map((e) => e.currentExecutable?.fullDisplayName ?? e.currentExecutable?.url ?? 'a build');

/** Pure: of the agents connected now (and not yet moved or ruled out), which are idle and which run what. */
export function planHandover(computers: ComputerInfo[], settled: ReadonlySet<string>): { idle: string[]; busy: Array<{ agent: string; builds: string[] }> } {
  const idle: string[] = [];
  const busy: Array<{ agent: string; builds: string[] }> = [];
  for (const c of computers) {
    if (c._class !== AGENT_CLASS || c.offline || settled.has(c.displayName)) continue;
    // `idle` is false while a one-off executor (a Pipeline's top-level run) works, though busyExecutors does not count it.
    const builds = [...running(c.executors), ...running(c.oneOffExecutors)];
    if (c.idle && builds.length === 0) idle.push(c.displayName);
    else busy.push({ agent: c.displayName, builds: builds.length ? builds : ['a build'] });
  }
  return { idle, busy };
}

/** Pure: whether a node's config.xml says it connects inbound. */
export const isInboundNode = (configXml: string): boolean => INBOUND_LAUNCHER.test(configXml);

export async function handOverAgents(deps: AgentHandoverDeps, team: Team, from: EnvironmentName, to: EnvironmentName, ctx: OperationContext, signal: AbortSignal, opts: AgentHandoverOptions): Promise<AgentHandoverReport> {
  const report: AgentHandoverReport = { moved: [], stillBuilding: [], arrived: [], skipped: [] };
  const pollMs = opts.pollMs ?? 500;
  const started = ctx.clock.now().getTime();
  const elapsed = (): number => ctx.clock.now().getTime() - started;
  try {
    await moveIdleAgents(deps, team, from, to, ctx, signal, { ...opts, pollMs }, report, elapsed);
    if (report.moved.length > 0) report.arrived = await awaitArrival(deps, team, to, report.moved.map((m) => m.agent), signal, opts.timeoutMs, pollMs, deps.sleep);
  } catch (err) {
    report.error = (err as Error).message;
    ctx.progress({ phase: 'agents', message: `could not finish moving ${team.team_name}'s agents off ${from}: ${report.error}` });
  }
  ctx.progress({ phase: 'agents', message: describeHandover(report, from, to), moved: report.moved.length, stillBuilding: report.stillBuilding.length });
  return report;
}

/** The poll loop on the old side: disconnect each inbound agent when idle, until none is left or the time is up. */
async function moveIdleAgents(
  deps: AgentHandoverDeps,
  team: Team,
  from: EnvironmentName,
  to: EnvironmentName,
  ctx: OperationContext,
  signal: AbortSignal,
  opts: Required<AgentHandoverOptions>,
  report: AgentHandoverReport,
  elapsed: () => number,
): Promise<void> {
  const old = deps.jenkinsFor(team, from);
  const own = coordinationNodeName(team);
  const settled = new Set<string>();
  const inbound = new Set<string>();
  const waitedFor = new Map<string, Set<string>>();
  for (;;) {
    const plan = planHandover((await old.computers()).computer ?? [], settled);
    for (const agent of [...plan.idle, ...plan.busy.map((b) => b.agent)].filter((a) => !inbound.has(a))) {
      const why = agent === own ? 'the controller\'s own coordination agent' : (await isInbound(old, agent)) ? null : 'not an inbound agent (its controller launches it)';
      if (why) {
        settled.add(agent);
        report.skipped.push({ agent, reason: why });
      } else inbound.add(agent);
    }
    for (const agent of plan.idle.filter((a) => !settled.has(a))) {
      await old.disconnectAgent(agent, `jenkins-selfmanage: ${team.team_name} is served by ${to}; reconnect through HAProxy`);
      settled.add(agent);
      const afterBuilds = [...(waitedFor.get(agent) ?? [])];
      report.moved.push({ agent, waitedMs: elapsed(), afterBuilds });
      ctx.progress({ phase: 'agents', message: `agent ${agent} moved off ${from}${afterBuilds.length ? ` after ${afterBuilds.join(', ')} ended` : ' (idle)'}`, agent });
    }
    const busy = plan.busy.filter((b) => !settled.has(b.agent));
    for (const b of busy) {
      if (!waitedFor.has(b.agent)) ctx.progress({ phase: 'agents', message: `agent ${b.agent} runs ${b.builds.join(', ')} on ${from}: it moves when they end (waiting up to ${Math.round(opts.timeoutMs / 1000)}s)`, agent: b.agent });
      const seen = waitedFor.get(b.agent) ?? new Set<string>();
      b.builds.forEach((x) => seen.add(x));
      waitedFor.set(b.agent, seen);
    }
    if (busy.length === 0 || elapsed() >= opts.timeoutMs || signal.aborted) {
      report.stillBuilding = busy;
      return;
    }
    await deps.sleep(opts.pollMs, signal);
  }
}

async function isInbound(client: ReturnType<JenkinsClientFactory>, agent: string): Promise<boolean> {
  try {
    return isInboundNode(await client.nodeConfigXml(agent));
  } catch {
    return false; // without Computer/ExtendedRead the launcher is unknown: leave the agent where it is
  }
}

/** Waits (bounded) until the new side lists each moved agent online. */
async function awaitArrival(deps: AgentHandoverDeps, team: Team, to: EnvironmentName, agents: string[], signal: AbortSignal, timeoutMs: number, pollMs: number, sleep: AgentHandoverDeps['sleep']): Promise<string[]> {
  const client = deps.jenkinsFor(team, to);
  const rounds = Math.max(1, Math.ceil(timeoutMs / pollMs));
  let online: string[] = [];
  for (let i = 0; i < rounds && !signal.aborted; i++) {
    const computers = (await client.computers()).computer ?? [];
    online = agents.filter((a) => computers.some((c) => c.displayName === a && !c.offline));
    if (online.length === agents.length) break;
    await sleep(pollMs, signal);
  }
  return online;
}

/** One line for progress and logs. */
export function describeHandover(r: AgentHandoverReport, from: EnvironmentName, to: EnvironmentName): string {
  const moved = `${r.moved.length} agent(s) moved from ${from} to ${to}`;
  const arrived = r.moved.length ? ` (${r.arrived.length} online on ${to})` : '';
  const still = r.stillBuilding.length ? `; still running builds on ${from}: ${r.stillBuilding.map((b) => `${b.agent} (${b.builds.join(', ')})`).join('; ')}` : '';
  return `${moved}${arrived}${still}${r.error ? `; stopped: ${r.error}` : ''}`;
}

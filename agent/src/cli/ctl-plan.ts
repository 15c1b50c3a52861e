import type { Command } from 'commander';
import type { MethodResult } from '../../../catalog/methods/method-spec';
import type { trafficPlan } from '../../../catalog/methods/traffic-plan';
import { callOnce } from '../rpc/client';
import { errorLine, EXIT, parseJsonObject, UsageError } from './ctl-output';
import type { CtlSession } from './ctl-session';

/**
 * `sidecarctl plan` and `sidecarctl switch --dry-run`: traffic.plan printed for a person
 * (or as JSON with --json). Exit 0 when the switch would start, 1 when a blocker stands
 * (like `doctor`: something must be fixed first), 3 when the sidecar refused the plan.
 * `switch` without --dry-run is traffic.switch itself (it needs the lock's token).
 */
type Plan = MethodResult<typeof trafficPlan>;
type Side = Plan['sides']['blue'];
/** Like doctor's exit 1: the answer came, and something must be fixed first. */
const WOULD_NOT_START = 1;

interface SwitchOptions {
  team: string;
  target: string;
  params?: string;
  lockToken?: string;
  json?: boolean;
  dryRun?: boolean;
}

function switchParams(o: SwitchOptions): Record<string, unknown> {
  const extra = o.params === undefined ? {} : parseJsonObject(o.params, '--params');
  if (o.lockToken !== undefined && !/^[1-9]\d{0,15}$/.test(o.lockToken)) throw new UsageError(`--lock-token must be a positive number, got '${o.lockToken}'`);
  return { ...extra, team: o.team, target: o.target, ...(o.lockToken !== undefined ? { lockToken: Number(o.lockToken) } : {}) };
}

async function printPlan(s: CtlSession, params: Record<string, unknown>, json: boolean): Promise<void> {
  const res = await callOnce({ url: s.url, token: s.token(), method: 'traffic.plan', params });
  if (!res.ok) {
    s.io.stderr(errorLine(res.error));
    s.exitCode = EXIT.SIDECAR_ERROR;
    return;
  }
  const plan = res.result as Plan;
  s.io.stdout(json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
  s.exitCode = plan.wouldStart ? EXIT.OK : WOULD_NOT_START;
}

export function addPlanCommands(program: Command, s: CtlSession): void {
  const common = (c: Command): Command =>
    c
      .requiredOption('--team <team>', 'the team')
      .requiredOption('--target <env>', 'blue or green')
      .option('--params <json>', "more of traffic.switch's params as a JSON object, e.g. '{\"increments\":[10,50,100]}'")
      .option('--lock-token <n>', "the fencing token of the team's lock (the plan says whether it is the live grant)")
      .option('--json', 'print the plan as JSON');
  common(program.command('plan').description('what a switch to --target would check and do, changing nothing (traffic.plan); exit 1 when it would not start')).action(async (o: SwitchOptions) =>
    printPlan(s, switchParams(o), o.json === true),
  );
  common(program.command('switch').description('move the team to --target (traffic.switch, needs --lock-token); with --dry-run only the plan (traffic.plan)'))
    .option('--dry-run', 'print what the switch would do, change nothing')
    .action(async (o: SwitchOptions) => {
      const params = switchParams(o);
      if (o.dryRun) return printPlan(s, params, o.json === true);
      if (params.lockToken === undefined) throw new UsageError('switch needs --lock-token (lock.acquire operation blue_green_switch), or --dry-run');
      return s.rpc('traffic.switch', params);
    });
}

const weights = (w: { blue: number; green: number } | null): string => (w ? `blue ${w.blue} / green ${w.green}` : '-');
const list = (xs: readonly string[]): string => (xs.length ? xs.join(', ') : '-');

/** 90 → 1m30s; 45 → 45s. */
export function duration(sec: number): string {
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.round(sec % 60);
  return [h ? `${h}h` : '', m ? `${m}m` : '', s || (!h && !m) ? `${s}s` : ''].join('');
}

function sideLine(env: string, side: Side): string {
  const h = side.haproxy;
  const hap = h ? `${h.status}${h.admin !== 'ready' ? ` (${h.admin})` : ''}, weight ${h.weight}, ${h.sessions} sessions` : 'not in HAProxy';
  const container = side.container ? `container ${side.container.state}${side.container.health ? ` (${side.container.health})` : ''}` : 'container -';
  const j = side.jenkins;
  const rest = !j ? 'REST: no client' : j.answered ? `builds: ${list(j.running)}; queued: ${list(j.queued)}; agents: ${list(j.agents)}` : `REST did not answer (${j.error ?? '?'})`;
  return `  ${`${env} (${side.role})`.padEnd(15)} ${side.server}: ${hap}; ${container}; ${rest}`;
}

function checkLines(p: Plan): string[] {
  const g = p.fence.grant;
  const fence = g ? `held by ${g.holder} (token ${g.token}, until ${g.expiresAt})${p.fence.isHolder === null ? '' : p.fence.isHolder ? ': your token' : ': NOT your token'}` : 'nobody holds it';
  const b = p.breaker;
  const c = p.consensus;
  return [
    `  fence      ${p.fence.lock}: ${fence}`,
    `  breaker    ${b.name}: ${b.state}, ${b.failures} failures; would admit: ${b.wouldAdmit}`,
    `  consensus  ${c.state}${c.operation ? ` (${c.operation}${c.at ? `, ${c.at}` : ''})` : ''}`,
    `  running    ${p.running.length ? p.running.map((o) => `${o.type} ${o.id} (${o.phase})`).join(', ') : 'nothing'}`,
  ];
}

function stepLines(p: Plan): string[] {
  if (p.alreadyActive) return [`  none: ${p.to} already has all traffic`];
  const lines = p.steps.map((s) => `  ${`${s.percent}%`.padStart(4)}  ${weights(s.weights)}  window ${duration(s.windowSec.min)}-${duration(s.windowSec.max)}${s.gate ? '  waits for approval first' : ''}`);
  const judged = p.steps[0]?.judgedBy ?? [];
  return [...lines, '  each window is judged by:', ...judged.map((t) => `    ${t}`)];
}

/** The plan as a person reads it in a terminal or a build's console. */
export function formatPlan(p: Plan): string {
  const verdict = p.wouldStart ? 'WOULD START' : `WOULD NOT START (${p.blockers.length} blocker${p.blockers.length === 1 ? '' : 's'})`;
  const env = p.environment;
  const max = p.durationSec.max === null ? 'no bound (a gate waits for a person)' : duration(p.durationSec.max);
  return [
    `Plan: ${p.team} ${p.from} -> ${p.to} (${p.at}): ${verdict}`,
    ...(p.blockers.length ? ['Blockers:', ...p.blockers.map((b) => `  x ${b.check}: ${b.detail}`)] : []),
    ...(p.warnings.length ? ['Warnings:', ...p.warnings.map((w) => `  ! ${w.check}: ${w.detail}`)] : []),
    'Checks:',
    ...checkLines(p),
    'Now:',
    `  active ${env.active}${env.recorded ? '' : ' (not recorded yet)'}, last known good ${env.lastKnownGood}; desired ${weights(env.weights)}; HAProxy ${p.haproxy.answered ? `${weights(p.haproxy.live)}${p.haproxy.inSync ? ' (in sync)' : ' (NOT in sync)'}` : `not readable: ${p.haproxy.error ?? '?'}`}`,
    sideLine('blue', p.sides.blue),
    sideLine('green', p.sides.green),
    'Before the first move:',
    `  prepare target: ${p.prepareTarget.detail}`,
    `  pre-switch sync: ${p.sync.runs ? 'runs' : 'does not run'}: ${p.sync.detail}`,
    'Steps:',
    ...stepLines(p),
    `Duration: ${duration(p.durationSec.min)} at least, ${max} at most`,
    `Drain: ${p.drain.detail}`,
    `Rollback: ${p.rollback.detail}`,
    `After promotion: ${list(p.afterPromotion)}`,
    '',
  ].join('\n');
}

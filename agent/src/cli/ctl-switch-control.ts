import type { Command } from 'commander';
import type { z } from 'zod';
import type { runningSwitchResult, switchControlResult } from '../../../catalog/methods/traffic-control';
import { UsageError } from './ctl-output';
import type { CtlSession } from './ctl-session';

/**
 * `sidecarctl pause | resume | promote [--full] | abort [--hold]`: a person's
 * say in the team's running switch (traffic.pause/resume/promote/abort). The
 * answer is written for someone woken at 3 am: what happened, the switch's
 * state now, whether the switch has taken the command yet, and what to run
 * next; `--json` prints the RPC result instead. Exit codes as every verb
 * (ctl-output.ts EXIT). Only types come from the catalog: sidecarctl loads no zod.
 */
type ControlAnswer = z.output<typeof switchControlResult>;
type RunningSwitch = z.output<typeof runningSwitchResult>;

type Verb = 'pause' | 'resume' | 'promote' | 'abort';

/**
 * The team as echoed in a hint a person may copy into a shell: only a name of the teams file's
 * shape (catalog/teams-file.ts TEAM_NAME_PATTERN, not imported: it would load zod and yaml).
 */
const shownTeam = (team: string): string => (/^[a-z][a-z0-9_-]{0,39}$/.test(team) ? team : '<team>');

interface VerbOptions {
  team: string;
  reason?: string;
  operation?: string;
  json?: boolean;
  maxPause?: string;
  full?: boolean;
  hold?: boolean;
}

const DESCRIPTIONS: Record<Verb, string> = {
  pause: "hold the team's running switch at its current weights (it still judges its SLIs: a breach rolls back) until resume, promote or abort (traffic.pause)",
  resume: 'let a paused switch (or one waiting at an approval gate) go on from where it holds (traffic.resume)',
  promote: 'end the current validation window early as a pass; --full: straight to 100% with the usual drain (traffic.promote)',
  abort: 'end the running switch now: roll back to the source; --hold: keep the current weights and end it aborted (traffic.abort)',
};

export function addSwitchControlCommands(program: Command, s: CtlSession): void {
  for (const verb of ['pause', 'resume', 'promote', 'abort'] as const) {
    const cmd = program
      .command(verb)
      .description(DESCRIPTIONS[verb])
      .requiredOption('--team <team>', 'the team whose switch to steer')
      .option('--reason <reason>', 'why (required; goes to the audit trail and the journal)')
      .option('--operation <id>', 'the switch operation you mean: refused when the running switch is another one')
      .option('--json', 'print the RPC result as JSON instead of the summary');
    if (verb === 'pause') cmd.option('--max-pause <sec>', "roll back if nobody resumes within this many seconds (default: the team's progressive_traffic.max_pause_sec, else 3600)");
    if (verb === 'promote') cmd.option('--full', 'go straight to 100% (with the drain of the old side)');
    if (verb === 'abort') cmd.option('--hold', 'freeze the current weights and end the switch aborted instead of rolling back');
    cmd.action(async (o: VerbOptions) => {
      const answer = await s.result(`traffic.${verb}`, controlParams(verb, o));
      if (answer === null) {
        s.io.stderr(failureHint(verb, o.team));
        return;
      }
      s.io.stdout(o.json ? `${JSON.stringify(answer, null, 2)}\n` : describeControlAnswer(answer as ControlAnswer));
    });
  }
}

/** The RPC params from the command line; a missing or empty --reason is a usage error that says what to type. */
export function controlParams(verb: Verb, o: VerbOptions): Record<string, unknown> {
  const reason = o.reason?.trim();
  if (!reason) {
    throw new UsageError(`--reason is required: say why you ${verb} the switch (it goes into the audit trail), e.g. sidecarctl ${verb} --team ${shownTeam(o.team)} --reason "5xx on green at 25%"`);
  }
  const params: Record<string, unknown> = { team: o.team, reason, ...(o.operation ? { operationId: o.operation } : {}) };
  if (verb === 'pause' && o.maxPause !== undefined) {
    if (!/^\d{1,5}$/.test(o.maxPause) || Number(o.maxPause) < 1 || Number(o.maxPause) > 86_400) throw new UsageError(`--max-pause must be seconds from 1 to 86400, got '${o.maxPause}'`);
    params.maxPauseSec = Number(o.maxPause);
  }
  if (verb === 'promote') params.full = o.full === true;
  if (verb === 'abort') params.hold = o.hold === true;
  return params;
}

function failureHint(verb: Verb, team: string): string {
  return `sidecarctl: nothing was changed by this ${verb}. See where the team's traffic and switch are with: sidecarctl status --team ${shownTeam(team)}\n`;
}

const WHAT_HAPPENED: Record<ControlAnswer['command'], string> = {
  pause: 'Paused',
  resume: 'Resumed',
  promote: 'Promotion asked for',
  abort: 'Abort asked for',
};

/** The summary a person reads after a command: what happened, the state now, taken or not, what to run next. */
export function describeControlAnswer(a: ControlAnswer): string {
  const where = a.percent === null ? 'before its first step' : `at ${a.percent}%`;
  const weights = a.weights ? ` (weights blue ${a.weights.blue}, green ${a.weights.green})` : '';
  const lines = [`${WHAT_HAPPENED[a.command]}: the switch of ${a.team} (operation ${a.operationId}) ${where}${weights}, by ${a.by}: ${a.reason}`];
  lines.push(`State: ${describeState(a)}`);
  lines.push(
    a.taken
      ? `Taken: yes, the switch has acted on it${a.command === 'pause' ? ': it holds its weights and still judges its SLIs (a breach rolls it back)' : ''}.`
      : 'Taken: not yet; the switch acts at its next checkpoint (before a step, or between two samples of a window). Check with the status command below.',
  );
  lines.push('Next:', ...nextSteps(a.team, a.state).map((l) => `  ${l}`));
  return `${lines.join('\n')}\n`;
}

function describeState(a: Pick<ControlAnswer, 'state' | 'pause'>): string {
  if (a.state === 'paused' && a.pause) return `paused since ${a.pause.since} by ${a.pause.by}; if nobody resumes it, it rolls back at ${a.pause.endsAt} (max pause ${a.pause.maxPauseSec} s)`;
  if (a.state === 'promote-requested') return 'promote-requested: the current window ends as a pass at the next checkpoint (with --full: straight to 100%, then the drain)';
  if (a.state === 'abort-requested') return 'abort-requested: the switch ends at its next checkpoint (rolled back, or with --hold aborted at its weights)';
  return 'running: it goes on by itself from where it is';
}

/** The commands that make sense in `state`, with a placeholder for the reason (never the text typed before). */
function nextSteps(team: string, state: ControlAnswer['state']): string[] {
  const why = '--reason "<why>"';
  const status = `watch it:        sidecarctl status --team ${team}`;
  const stop = `if it goes wrong: sidecarctl emergency-stop --team ${team} ${why}`;
  switch (state) {
    case 'paused':
      return [`resume with:     sidecarctl resume --team ${team} ${why}`, `or promote:      sidecarctl promote --team ${team} ${why} [--full]`, `or abort:        sidecarctl abort --team ${team} ${why} [--hold]`, status];
    case 'running':
    case 'promote-requested':
      return [status, `pause it:        sidecarctl pause --team ${team} ${why}`, `abort it:        sidecarctl abort --team ${team} ${why} [--hold]`];
    case 'abort-requested':
      return [status, stop];
  }
}

/**
 * What `sidecarctl status --team` says on stderr about the team's running switch when the status
 * carries one (environment.status's `switch`); null when it has none (no switch runs, or an older sidecar).
 */
export function runningSwitchNote(team: string, status: unknown): string | null {
  const sw = (status as { switch?: RunningSwitch | null } | null)?.switch;
  if (!sw || typeof sw !== 'object' || typeof sw.operationId !== 'string') return null;
  const where = sw.percent === null ? 'before its first step' : `at ${sw.percent}%`;
  const lines = [`sidecarctl: running switch ${sw.operationId} to ${sw.target} ${where}, phase ${sw.phase}, control ${sw.control}, on sidecar ${sw.ownerInstance} (started ${sw.startedAt} by ${sw.initiatedBy})`];
  const p = sw.pause;
  if (p) {
    const hold = p.gate !== null ? `waiting at the approval gate of step ${p.gate}%` : 'paused';
    const ends = p.endsAt ? `; rolls back at ${p.endsAt} if nobody resumes it` : '';
    lines.push(`sidecarctl: ${hold} since ${p.since} by ${p.by}: ${p.reason}${ends}`);
    lines.push(`sidecarctl: resume with: sidecarctl resume --team ${team} --reason "<why>"`);
  }
  return `${lines.join('\n')}\n`;
}

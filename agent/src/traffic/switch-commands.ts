import { SidecarError } from '../sidecar-error';
import type { Clock, OperationJournal } from '../store/contract';
import { JOURNAL_STEP } from './journal-steps';
import { readRunningSwitch } from './running-switch';
import { nextControlState, pauseEndsAt, type ControlCommand, type ControlledSwitch, type ControlState, type SwitchControls } from './switch-control';
import type { Weights } from './team-backends';

/**
 * A person's command to the team's running switch, end to end: check it is
 * the switch the sender meant and that it still holds its lock (a switch
 * fenced out by a newer owner is not steered), apply it to the control state,
 * journal it in the switch's own operation (so a restarted sidecar knows a
 * pause), then wait briefly for the run to reach a checkpoint and say whether
 * it has taken it. The RPC dispatcher writes the audit row (who, params with
 * the reason).
 */
export interface SwitchCommandDeps {
  controls: SwitchControls;
  journal: Pick<OperationJournal, 'intent' | 'outcome' | 'list'>;
  clock: Clock;
  sleep(ms: number): Promise<void>;
  /** The team's default for a pause nobody resumes (teams file progressive_traffic.max_pause_sec). */
  maxPauseSec(team: string): number;
}

export interface SwitchCommandAnswer {
  operationId: string;
  team: string;
  command: ControlCommand['verb'];
  state: ControlState['kind'];
  by: string;
  reason: string;
  at: string;
  taken: boolean;
  percent: number | null;
  weights: Weights | null;
  pause: { since: string; by: string; reason: string; maxPauseSec: number; endsAt: string } | null;
}

/** How long an answer waits for the run's next checkpoint (a window samples every sampleIntervalMs, ≤ 10 s). */
const TAKEN_WITHIN_MS = 3_000;
const POLL_MS = 50;

export type CommandInput =
  | { verb: 'pause'; maxPauseSec?: number }
  | { verb: 'resume' }
  | { verb: 'promote'; full: boolean }
  | { verb: 'abort'; hold: boolean };

export async function commandSwitch(
  deps: SwitchCommandDeps,
  req: { team: string; operationId?: string; by: string; reason: string; input: CommandInput },
): Promise<SwitchCommandAnswer> {
  const { team, by, reason, input } = req;
  const running = deps.controls.get(team);
  if (!running) throw await notRunningHere(deps, team);
  if (req.operationId && req.operationId !== running.operationId) {
    throw new SidecarError('NOT_FOUND', `operation ${req.operationId} is not the running switch of ${team} (that is ${running.operationId}); nothing was changed`, { team, operationId: req.operationId, running: running.operationId });
  }
  await running.run?.checkFence();
  const at = deps.clock.now();
  const cmd = toCommand(input, { by, reason }, at, deps.maxPauseSec(team));
  // Refused commands change nothing and leave no journal step (the dispatcher audits the refusal).
  nextControlState(team, running.state, cmd);
  // Intent before the change: a restarted sidecar that finds it without an outcome knows it may have applied.
  const seq = await deps.journal.intent(running.operationId, JOURNAL_STEP.control, { ...journalIntent(cmd), at: at.toISOString() });
  let after: ControlledSwitch;
  try {
    after = deps.controls.command(team, cmd, running.operationId);
  } catch (err) {
    // Another command (or the switch's end) came between the check and the journal write.
    await deps.journal.outcome(running.operationId, seq, 'failed', { error: (err as Error).message }).catch(() => undefined);
    throw err;
  }
  await deps.journal.outcome(after.operationId, seq, 'done', { state: after.state.kind });
  const taken = await waitForCheckpoint(deps, team, after);
  return answer(deps.controls.get(team) ?? after, { team, cmd, at, taken });
}

/** Where the team's switch runs when not here (the journal knows), so the caller can send it there. */
async function notRunningHere(deps: SwitchCommandDeps, team: string): Promise<SidecarError> {
  const elsewhere = await readRunningSwitch(deps.journal, team);
  if (elsewhere) {
    return new SidecarError('NOT_FOUND', `the switch of ${team} (${elsewhere.operationId}) runs on sidecar ${elsewhere.ownerInstance}, not on this one; send the command there`, { team, operationId: elsewhere.operationId, ownerInstance: elsewhere.ownerInstance });
  }
  return new SidecarError('NOT_FOUND', `no switch of ${team} is running (traffic.status says where traffic is); nothing was changed`, { team });
}

function toCommand(input: CommandInput, actor: { by: string; reason: string }, at: Date, defaultMaxPauseSec: number): ControlCommand {
  switch (input.verb) {
    case 'pause':
      return { verb: 'pause', at, maxPauseSec: input.maxPauseSec ?? defaultMaxPauseSec, ...actor };
    case 'resume':
      return { verb: 'resume', ...actor };
    case 'promote':
      return { verb: 'promote', full: input.full, ...actor };
    case 'abort':
      return { verb: 'abort', hold: input.hold, ...actor };
  }
}

function journalIntent(cmd: ControlCommand): Record<string, unknown> {
  const { verb, by, reason } = cmd;
  if (cmd.verb === 'pause') return { verb, by, reason, maxPauseSec: cmd.maxPauseSec ?? null };
  if (cmd.verb === 'promote') return { verb, by, reason, full: cmd.full };
  if (cmd.verb === 'abort') return { verb, by, reason, hold: cmd.hold };
  return { verb, by, reason };
}

/** True once the run passed a checkpoint after the command (or ended: then it has acted on it). */
async function waitForCheckpoint(deps: SwitchCommandDeps, team: string, after: ControlledSwitch): Promise<boolean> {
  for (let waited = 0; waited < TAKEN_WITHIN_MS; waited += POLL_MS) {
    const now = deps.controls.get(team);
    if (!now || now.operationId !== after.operationId || now.checkpoints > after.checkpoints) return true;
    await deps.sleep(POLL_MS);
  }
  return false;
}

function answer(sw: ControlledSwitch, c: { team: string; cmd: ControlCommand; at: Date; taken: boolean }): SwitchCommandAnswer {
  const hold = sw.state.kind === 'paused' ? sw.state.hold : null;
  const endsAt = hold && pauseEndsAt(hold);
  const run = sw.run;
  return {
    operationId: sw.operationId,
    team: c.team,
    command: c.cmd.verb,
    state: sw.state.kind,
    by: c.cmd.by,
    reason: c.cmd.reason,
    at: c.at.toISOString(),
    taken: c.taken,
    // Where the traffic is (before a step's move the run already names the step it is about to take).
    percent: run?.moved ? run.lastApplied[run.target] : null,
    weights: run ? { ...run.lastApplied } : null,
    pause: hold?.maxPauseSec && endsAt ? { since: hold.since.toISOString(), by: hold.by, reason: hold.reason, maxPauseSec: hold.maxPauseSec, endsAt: endsAt.toISOString() } : null,
  };
}

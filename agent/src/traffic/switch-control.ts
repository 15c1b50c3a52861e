import { SidecarError } from '../sidecar-error';
import { pauseEndsAt, type Checkpoint, type ControlActor, type ControlDecision, type Hold, type SwitchControl } from './switch/control';
import type { SwitchRun } from './switch/switch-run';

/**
 * A person's pause / resume / promote / abort of a running switch, per team,
 * in this process. The commands change a small state (nextControlState, pure);
 * the running SwitchRun reads it at its checkpoints (switch/control.ts) and
 * acts. Like Argo Rollouts' pause/promote/abort: a command only changes what
 * the run does next; the run itself moves the traffic.
 */
export type ControlState =
  | { kind: 'running' }
  | { kind: 'paused'; hold: Hold }
  | ({ kind: 'promote-requested'; full: boolean } & ControlActor)
  | ({ kind: 'abort-requested'; hold: boolean } & ControlActor);

export type ControlCommand =
  | ({ verb: 'pause'; at: Date; maxPauseSec?: number } & ControlActor)
  | ({ verb: 'resume' } & ControlActor)
  | ({ verb: 'promote'; full: boolean } & ControlActor)
  | ({ verb: 'abort'; hold: boolean } & ControlActor);

const refuse = (team: string, why: string): never => {
  throw new SidecarError('CONFLICT', `the switch of ${team} ${why}`, { reason: 'control_refused', team });
};

/** The state after `cmd`; a command that makes no sense in `state` is refused (CONFLICT). */
export function nextControlState(team: string, state: ControlState, cmd: ControlCommand): ControlState {
  if (state.kind === 'abort-requested') return refuse(team, `is already being aborted (by ${state.by})`);
  const actor = { by: cmd.by, reason: cmd.reason };
  switch (cmd.verb) {
    case 'pause':
      if (state.kind === 'paused') return refuse(team, `is already paused (by ${state.hold.by} since ${state.hold.since.toISOString()})`);
      if (state.kind === 'promote-requested') return refuse(team, `is being promoted (by ${state.by}); abort it instead`);
      return { kind: 'paused', hold: { ...actor, since: cmd.at, ...(cmd.maxPauseSec ? { maxPauseSec: cmd.maxPauseSec } : {}) } };
    case 'resume':
      if (state.kind !== 'paused') return refuse(team, 'is not paused');
      return { kind: 'running' };
    case 'promote':
      // Promoting a paused switch resumes it; asked twice, a full promotion wins.
      return { kind: 'promote-requested', full: cmd.full || (state.kind === 'promote-requested' && state.full), ...actor };
    case 'abort':
      return { kind: 'abort-requested', hold: cmd.hold, ...actor };
  }
}

/**
 * What the run does at `where` in `state` at `now`, and the state after it: a promotion
 * is consumed by the window it ends, or before a step (a full one by moving that
 * step to 100%, a plain one by going on); an abort stays until the run has ended; a pause
 * held past its maxPauseSec ends the switch (pause-expired: a rollback).
 */
export function decide(state: ControlState, where: Checkpoint, now: Date): { decision: ControlDecision; next: ControlState } {
  switch (state.kind) {
    case 'running':
      return { decision: { kind: 'continue' }, next: state };
    case 'paused': {
      const expired = pauseExpiry(state.hold, now);
      return { decision: expired ?? { kind: 'hold', hold: state.hold }, next: state };
    }
    case 'promote-requested':
      // Before a step no window runs to end early: a plain promotion only lets the switch go on (a held one
      // resumes); the next step's window is validated in full, never skipped.
      if (where === 'step' && !state.full) return { decision: { kind: 'continue' }, next: { kind: 'running' } };
      return { decision: { kind: 'end-window', full: state.full, by: state.by, reason: state.reason }, next: { kind: 'running' } };
    case 'abort-requested':
      return { decision: { kind: 'abort', hold: state.hold, by: state.by, reason: state.reason }, next: state };
  }
}

export { pauseEndsAt };

/** The pause-expired decision once `now` reached the hold's end, with the reason the rollback records. */
function pauseExpiry(hold: Hold, now: Date): Extract<ControlDecision, { kind: 'pause-expired' }> | null {
  const endsAt = pauseEndsAt(hold);
  if (!endsAt || !hold.maxPauseSec || now.getTime() < endsAt.getTime()) return null;
  const held = hold.gate !== undefined ? `waited ${hold.maxPauseSec} s at the approval gate for ${hold.gate}%` : `paused ${hold.maxPauseSec} s`;
  const reason = `${held} without a resume (max_pause_sec); paused by ${hold.by}: ${hold.reason}`;
  return { kind: 'pause-expired', hold: { ...hold, maxPauseSec: hold.maxPauseSec }, reason };
}

interface Entry {
  operationId: string;
  state: ControlState;
  /** The run as last seen at a checkpoint (its percent, weights, fence); unset before its first. */
  run?: SwitchRun;
  /** Checkpoints passed so far: a command was taken once this grew after it. */
  checkpoints: number;
}

/** What a command sees of the switch it steers. */
export interface ControlledSwitch {
  operationId: string;
  state: ControlState;
  run: SwitchRun | undefined;
  checkpoints: number;
}

/** The running switches of this process that a person can steer, by team. */
export class SwitchControls {
  private readonly byTeam = new Map<string, Entry>();

  /** `maxPauseSec`: the team's limit for a hold that did not name one (an approval gate's); none when absent. */
  constructor(private readonly defaults: { maxPauseSec?: (team: string) => number } = {}) {}

  /** The control one switch consults; released when it ends. */
  attach(team: string, operationId: string): SwitchControl {
    const entry: Entry = { operationId, state: { kind: 'running' }, checkpoints: 0 };
    this.byTeam.set(team, entry);
    return {
      checkpoint: (run, where) => {
        entry.run = run;
        entry.checkpoints += 1;
        const { decision, next } = decide(entry.state, where, run.ctx.clock.now());
        entry.state = next;
        return decision;
      },
      awaitApproval: (hold) => {
        // A gate does not overrule a person: a pause, an abort or a promotion already asked for stands.
        if (entry.state.kind === 'paused') return { hold: entry.state.hold, fresh: false };
        if (entry.state.kind !== 'running') return null;
        const maxPauseSec = hold.maxPauseSec ?? this.defaults.maxPauseSec?.(team);
        const held: Hold = { ...hold, ...(maxPauseSec ? { maxPauseSec } : {}) };
        entry.state = { kind: 'paused', hold: held };
        return { hold: held, fresh: true };
      },
      release: () => {
        if (this.byTeam.get(team) === entry) this.byTeam.delete(team);
      },
    };
  }

  /** The team's running switch and its control state; undefined when none runs here. */
  get(team: string): ControlledSwitch | undefined {
    const e = this.byTeam.get(team);
    return e && { operationId: e.operationId, state: e.state, run: e.run, checkpoints: e.checkpoints };
  }

  /**
   * Applies a person's command to the team's running switch (NOT_FOUND when none runs here, or when
   * `operationId` names another switch than the one running now).
   */
  command(team: string, cmd: ControlCommand, operationId?: string): ControlledSwitch {
    const e = this.byTeam.get(team);
    if (!e || (operationId !== undefined && e.operationId !== operationId)) throw new SidecarError('NOT_FOUND', `no switch${operationId ? ` ${operationId}` : ''} of ${team} is running on this sidecar`, { team });
    e.state = nextControlState(team, e.state, cmd);
    return { operationId: e.operationId, state: e.state, run: e.run, checkpoints: e.checkpoints };
  }
}

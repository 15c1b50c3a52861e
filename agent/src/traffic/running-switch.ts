import type { z } from 'zod';
import type { runningSwitchResult } from '../../../catalog/methods/running-switch';
import type { JournalStep, OperationJournal, OperationRecord } from '../store/contract';
import { JOURNAL_STEP } from './journal-steps';
import type { Weights } from './team-backends';

export type RunningSwitch = z.output<typeof runningSwitchResult>;
type Pause = NonNullable<RunningSwitch['pause']>;

/**
 * The team's running switch read back from the journal alone (its operation, weights steps and
 * `control` steps), so any sidecar, and one restarted, answers traffic.status and environment.status
 * the same as the sidecar running it: null when no switch of the team runs.
 */
export async function readRunningSwitch(journal: Pick<OperationJournal, 'list'>, team: string): Promise<RunningSwitch | null> {
  const running = await journal.list({ team, status: 'running', limit: 20 });
  const op = running.find((o) => o.type === 'traffic.switch');
  return op ? runningSwitchOf(op) : null;
}

/** Pure: what a running switch's journal says about where it is and who holds it. */
export function runningSwitchOf(op: OperationRecord): RunningSwitch {
  const steps = [...op.steps].sort((a, b) => a.seq - b.seq);
  const weights = lastWeights(steps);
  const { control, pause } = controlOf(steps);
  const target = op.params.target === 'blue' ? 'blue' : 'green';
  return {
    operationId: op.id,
    target,
    phase: control === 'paused' ? 'paused' : phaseOf(steps),
    percent: weights ? weights[target] : null,
    weights,
    control,
    pause,
    initiatedBy: op.initiatedBy,
    ownerInstance: op.ownerInstance,
    startedAt: op.startedAt.toISOString(),
  };
}

const WEIGHT_STEPS: ReadonlySet<string> = new Set([JOURNAL_STEP.weights, JOURNAL_STEP.rollback, JOURNAL_STEP.recoveryWeights, JOURNAL_STEP.recoveryRollback]);

/** The weights of the last move journaled (its intent is written before HAProxy gets it); a failed one did not happen. */
function lastWeights(steps: readonly JournalStep[]): Weights | null {
  for (let i = steps.length - 1; i >= 0; i -= 1) {
    const s = steps[i]!;
    if (!WEIGHT_STEPS.has(s.name) || s.outcome === 'failed') continue;
    const w = s.intent.weights as Partial<Weights> | undefined;
    if (w && typeof w.blue === 'number' && typeof w.green === 'number') return { blue: w.blue, green: w.green };
  }
  return null;
}

/** The switch's phase (switch/phase.ts) from its last journaled step. */
function phaseOf(steps: readonly JournalStep[]): string {
  const last = steps.filter((s) => s.name !== JOURNAL_STEP.control).at(-1);
  if (!last) return 'preparing';
  const pending = last.outcome === 'pending';
  switch (last.name) {
    case JOURNAL_STEP.prepareTarget:
      return 'preparing';
    case JOURNAL_STEP.weights:
      // A move done is followed at once by its window.
      return pending ? 'stepping' : 'validating';
    case JOURNAL_STEP.validate:
      return pending ? 'validating' : 'stepping';
    case JOURNAL_STEP.drainOld:
      return pending ? 'draining' : 'promoting';
    case JOURNAL_STEP.promote:
      return 'promoting';
    case JOURNAL_STEP.rollback:
      return 'rolling-back';
    default:
      return 'stepping';
  }
}

/**
 * A person's say as the `control` steps journaled it (intent {verb, by, reason, at, maxPauseSec?,
 * full?, hold?, gate?}); a refused command (outcome failed) changed nothing. A promotion is taken by
 * the run at its next checkpoint, which journals a step after it (the next move or the drain).
 */
function controlOf(steps: readonly JournalStep[]): { control: RunningSwitch['control']; pause: Pause | null } {
  let control: RunningSwitch['control'] = 'running';
  let pause: Pause | null = null;
  steps.forEach((s, i) => {
    if (s.name !== JOURNAL_STEP.control || s.outcome === 'failed') return;
    const verb = s.intent.verb;
    if (verb === 'pause') {
      control = 'paused';
      pause = pauseOf(s);
    } else if (verb === 'resume') {
      control = 'running';
      pause = null;
    } else if (verb === 'promote') {
      pause = null;
      control = steps.slice(i + 1).some((later) => later.name !== JOURNAL_STEP.control) ? 'running' : 'promote-requested';
    } else if (verb === 'abort') {
      control = 'abort-requested';
    }
  });
  return { control, pause };
}

function pauseOf(s: JournalStep): Pause {
  const i = s.intent;
  const since = typeof i.at === 'string' && !Number.isNaN(Date.parse(i.at)) ? new Date(i.at) : s.at;
  const maxPauseSec = typeof i.maxPauseSec === 'number' && i.maxPauseSec > 0 ? i.maxPauseSec : null;
  return {
    since: since.toISOString(),
    by: String(i.by ?? 'unknown'),
    reason: String(i.reason ?? ''),
    maxPauseSec,
    endsAt: maxPauseSec ? new Date(since.getTime() + maxPauseSec * 1000).toISOString() : null,
    gate: typeof i.gate === 'number' ? i.gate : null,
  };
}

import type { SyntheticOutcome } from '../../sli';
import { realSleep } from '../../unconfigured';
import type { SwitchRun } from '../switch-run';

export interface SyntheticRuns {
  /** What has ended so far; null when the team has no synthetic check (no token, none configured). */
  outcomes(): SyntheticOutcome[] | null;
  /** Resolves once the first transaction ended (or none will run). */
  settled(): Promise<void>;
  stop(): void;
}

/**
 * Synthetic transactions on the target for one window: the first at once, then one after
 * another at most every half window, until the window is judged (stop()) or one fails.
 * Paced in real time (not the switch's sleep): each is a real HTTP exchange.
 */
export function startSyntheticRuns(run: SwitchRun): SyntheticRuns {
  const team = run.deps.teamConfig(run.team);
  if (!team) return { outcomes: () => null, settled: async () => undefined, stop: () => undefined };
  const check = run.deps.synthetic;
  const windowDone = new AbortController();
  const both = AbortSignal.any([run.signal, windowDone.signal]);
  const done: SyntheticOutcome[] = [];
  let configured = true;
  let firstIn: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (firstIn = resolve));
  const everyMs = Math.max(1000, (run.params.validationSec * 1000) / 2);
  const loop = async (): Promise<void> => {
    for (let i = 0; i < 1000 && !both.aborted; i += 1) {
      const started = Date.now();
      const r = await check.run(team, run.target, both);
      if (r === null) {
        configured = false;
        return;
      }
      // A transaction cut short because the window ended says nothing about the target.
      if (windowDone.signal.aborted) return;
      done.push(r);
      firstIn();
      if (!r.ok) return; // one failure decides the window
      await realSleep(Math.max(0, everyMs - (Date.now() - started)), both);
    }
  };
  void loop().finally(() => firstIn());
  return {
    outcomes: () => (configured ? [...done] : null),
    settled: () => first,
    stop: () => windowDone.abort(),
  };
}

import { validateStep } from './phases/step';
import type { ResumePoint } from './resume-point';
import type { SwitchRun } from './switch-run';

/**
 * The start of a run that begins mid-way: a switch a sidecar restart (or an adopting sidecar)
 * found paused in its journal. Nothing is prepared again and no weight moves: its control already
 * holds it with the journaled pause (resume-paused.ts: its since, by, reason, maxPauseSec), then, at a `window`
 * point, the held step's window runs again (SLIs judged while paused: a breach rolls back), and
 * SwitchRun.run goes on with the steps after it once a person resumes or promotes.
 */
export async function resumeMidway(run: SwitchRun, point: ResumePoint): Promise<void> {
  const { hold } = point;
  run.enter('paused');
  run.percent = point.percent;
  const w = run.lastApplied;
  const where = point.at === 'window' ? `in the ${point.percent}% window` : `before the ${point.percent}% step`;
  run.ctx.progress({
    phase: 'paused',
    message: `sidecar restarted: the switch stays paused ${where} (by ${hold.by} since ${hold.since.toISOString()}: ${hold.reason}); weights held at blue ${w.blue} / green ${w.green}, SLIs still judged`,
    step: point.percent,
    by: hold.by,
    since: hold.since.toISOString(),
    weights: w,
  });
  // An emergency stop or a newer lock owner while this sidecar was down ends it here, weights untouched.
  await run.checkHalted();
  await run.checkFence();
  if (point.at === 'window') await validateStep(run, point.percent, w);
}

/** Steps the run already went through before the restart (a `window` point's own step included). */
export const alreadyPast = (point: ResumePoint, percent: number): boolean => (point.at === 'window' ? percent <= point.percent : percent < point.percent);

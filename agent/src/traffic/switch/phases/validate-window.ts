import { SidecarError } from '../../../sidecar-error';
import { peopleTableName } from '../../../../../catalog/haproxy-names';
import { judge, windowFigures, withSynthetic, type SliSample } from '../../sli';
import type { SwitchRun } from '../switch-run';
import { abortSwitch, followHold } from './person';
import { startSyntheticRuns } from './synthetic-runs';

export interface WindowOutcome {
  verdict: NonNullable<ReturnType<typeof judge>>;
  windowSec: number;
  samples: number;
  /** When the deciding sample was read (ms since epoch). */
  decidedAt: number;
}

/** Reads one SLI sample of the target: HAProxy's counters, the people table, the container's latest figures. */
export function targetSampler(run: SwitchRun): () => Promise<SliSample> {
  const { deps, ctx, params, tb, target } = run;
  const container = deps.teamConfig(params.team)?.environments[target].container;
  let latestContainer: SliSample['container'] = null;
  let pendingContainer = false;
  // Docker's one-shot stats take about a second: polled in the background, the latest is used.
  const pollContainer = (): void => {
    if (!container || pendingContainer) return;
    pendingContainer = true;
    deps.containerMetrics
      .sample(container)
      .then((c) => (latestContainer = c))
      .catch(() => undefined)
      .finally(() => (pendingContainer = false));
  };
  const readPeople = async (): Promise<SliSample['people']> => {
    if (!deps.haproxy.peopleCounters) return null;
    // A config rendered before the people table existed has none: the window goes on without it.
    const table = await deps.haproxy.peopleCounters(peopleTableName(params.team)).catch(() => null);
    return table ? (table.get(tb.servers[target]) ?? { requests: 0, errors: 0 }) : null;
  };
  return async () => {
    pollContainer();
    const s = (await deps.haproxy.showStat()).find((x) => x.backend === tb.web && x.server === tb.servers[target]);
    if (!s) throw new SidecarError('NOT_FOUND', `HAProxy no longer has ${tb.web}/${tb.servers[target]}`, { team: params.team });
    return { at: ctx.clock.now().getTime(), target: s, container: latestContainer, people: await readPeople() };
  };
}

/**
 * One window at `percent`: a sample about every sampleIntervalMs, judged on the window's deltas.
 * Too few requests extend the window up to maxWindowSec, then (onInsufficientSamples 'hold')
 * wait up to holdSec more; the verdict is then whatever the last sample says.
 */
export async function validateWindow(run: SwitchRun, percent: number): Promise<WindowOutcome> {
  const { deps, ctx, params } = run;
  const sample = targetSampler(run);
  const start = ctx.clock.now().getTime();
  const windowEnd = start + params.validationSec * 1000;
  const extendedEnd = start + (params.maxWindowSec ?? params.validationSec * 3) * 1000;
  const holdEnd = extendedEnd + params.holdSec * 1000;
  const samples: SliSample[] = [await sample()];
  const announced = { extension: false, hold: false };
  const synthetic = startSyntheticRuns(run);
  const ended = (verdict: WindowOutcome['verdict'], now: number): WindowOutcome => ({ verdict, windowSec: Math.round((now - start) / 100) / 10, samples: samples.length, decidedAt: now });
  try {
    for (let tick = 0; tick < 1_000_000; tick += 1) {
      const nextAt = start + (tick + 1) * params.sampleIntervalMs;
      await deps.sleep(Math.max(0, nextAt - ctx.clock.now().getTime()), run.signal);
      await run.checkHalted();
      run.assertNotShuttingDown();
      const said = run.control.checkpoint(run, 'window');
      if (said.kind === 'abort') return abortSwitch(run, said);
      followHold(run, said, 'validating');
      samples.push(await sample());
      const now = ctx.clock.now().getTime();
      // Held or promoted by a person: judged for breaches only, as every sample is.
      const final = now >= windowEnd && said.kind === 'continue';
      // The window is not judged a pass before one synthetic transaction has ended (each is bounded by its timeout).
      if (final) await synthetic.settled();
      const figures = withSynthetic(windowFigures(samples), synthetic.outcomes());
      const verdict = judge(run.triggers, figures, params.minSamples, final);
      if (verdict?.kind === 'breach' || said.kind === 'hold') {
        if (verdict) return ended(verdict, now);
        continue;
      }
      if (said.kind === 'end-window') {
        if (said.full) run.fullPromotion = true;
        ctx.progress({ phase: `step-${percent}`, message: `window at ${percent}% ended early as a pass: promoted by ${said.by} (${said.reason})${said.full ? '; the next step is 100%' : ''}`, step: percent, figures });
        return ended({ kind: 'pass', figures }, now);
      }
      if (verdict === null) continue;
      if (verdict.kind !== 'insufficient') return ended(verdict, now);
      if (now < extendedEnd) {
        if (!announced.extension) {
          announced.extension = true;
          ctx.progress({ phase: `step-${percent}`, message: `window at ${percent}% saw only ${figures.requests} of ${params.minSamples} requests needed; extending up to ${(extendedEnd - start) / 1000}s`, step: percent, figures });
        }
        continue;
      }
      if (params.onInsufficientSamples === 'hold' && now < holdEnd) {
        if (!announced.hold) {
          announced.hold = true;
          ctx.progress({ phase: `step-${percent}`, message: `holding at ${percent}%: ${figures.requests} of ${params.minSamples} requests; waiting up to ${params.holdSec}s more for traffic before rolling back`, step: percent, figures });
        }
        continue;
      }
      return ended(verdict, now);
    }
  } finally {
    synthetic.stop();
  }
  throw new SidecarError('TIMEOUT', 'validation window did not end', {});
}

import { SidecarError } from '../../../sidecar-error';
import { peopleTableName } from '../../../../../catalog/haproxy-names';
import type { SliSample } from '../../sli';
import type { SwitchRun } from '../switch-run';

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

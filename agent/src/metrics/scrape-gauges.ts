import { Gauge, type Registry } from 'prom-client';
import { ENVIRONMENTS } from '../../../catalog/teams-file';
import type { BreakerState, BreakerStatus, TeamEnvironmentState } from '../store/contract';
import { shared } from './shared-name';

export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export type DependencyProbe = () => Promise<Record<string, 'up' | 'down' | 'not_configured'>>;

/** Per dependency (postgres, haproxy, docker), probed at scrape time by whatever probe is wired then. */
export function dependencyGauge(registers: Registry[], probeNow: () => DependencyProbe | null): Gauge<'dependency'> {
  return new Gauge({
    name: shared('sidecar_dependency_up'),
    help: 'Per dependency (postgres, haproxy, docker): 1 when this sidecar reaches it, 0 when not (absent when not configured). Probed at scrape time.',
    labelNames: ['dependency'],
    registers,
    async collect() {
      const probe = probeNow();
      if (!probe) return;
      const states = await probe();
      this.reset();
      for (const [dependency, state] of Object.entries(states)) if (state !== 'not_configured') this.set({ dependency }, state === 'up' ? 1 : 0);
    },
  });
}

/** Each team's desired weights and active side, from the coordination store (shared by every sidecar). */
export function environmentGauges(registers: Registry[], environments: (() => Promise<TeamEnvironmentState[]>) | undefined) {
  // One store read per scrape feeds both gauges; each collect() asks, the first one reads.
  let pending: Promise<TeamEnvironmentState[] | null> | null = null;
  const readEnvironments = (): Promise<TeamEnvironmentState[] | null> => {
    if (!environments) return Promise.resolve(null);
    pending ??= environments()
      .catch(() => null) // Postgres down: keep the last values; sidecar_dependency_up says why.
      .finally(() => setTimeout(() => (pending = null), 0));
    return pending;
  };
  return {
    trafficWeight: new Gauge({
      name: shared('sidecar_traffic_weight'),
      help: 'Desired HAProxy weight (0-100) of each team environment, from the coordination store.',
      labelNames: ['team', 'environment'] as const,
      registers,
      async collect() {
        const list = await readEnvironments();
        if (!list) return;
        this.reset();
        for (const t of list) for (const env of ENVIRONMENTS) this.set({ team: t.team, environment: env }, t.weights[env]);
      },
    }),
    activeEnvironment: new Gauge({
      name: shared('sidecar_active_environment'),
      help: 'Per team environment: 1 for the side recorded active in the coordination store, 0 for the other.',
      labelNames: ['team', 'environment'] as const,
      registers,
      async collect() {
        const list = await readEnvironments();
        if (!list) return;
        this.reset();
        for (const t of list) for (const env of ENVIRONMENTS) this.set({ team: t.team, environment: env }, t.active === env ? 1 : 0);
      },
    }),
  };
}

/** Circuit breaker states, read at scrape time from the store: the breakers are shared by every sidecar. */
export function breakerGauge(registers: Registry[], breakers: (() => Promise<BreakerStatus[]>) | undefined): Gauge<'breaker'> {
  return new Gauge({
    name: shared('sidecar_breaker_state'),
    help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
    labelNames: ['breaker'],
    registers,
    async collect() {
      if (!breakers) return;
      try {
        const list = await breakers();
        this.reset();
        for (const b of list) this.set({ breaker: b.name }, BREAKER_STATE_VALUE[b.state]);
      } catch {
        // Postgres down: keep the last values; /readyz reports the outage.
      }
    },
  });
}

import { storeLocalFacts } from '../coordination/local-facts';
import { Voter } from '../coordination/voter';
import type { DependencyState } from '../http/readiness';
import type { PgStore } from '../store';
import { StartupError, type Running, type SidecarContext } from './context';
import { asCheck, type DependencyProbes } from './probes';

/**
 * Membership and voting: the participant heartbeat (with a health score) and the Voter.
 * Stopping leaves the participants, which releases this instance's leadership leases now
 * rather than at lease expiry.
 */
export async function startCoordination(ctx: SidecarContext, store: PgStore, probes: DependencyProbes): Promise<Running> {
  const { config, log } = ctx;
  const heartbeat = await startHeartbeat(ctx, store, probes);
  const voter = new Voter({
    instanceId: config.instanceId,
    consensus: store.consensus,
    facts: storeLocalFacts({
      breakers: store.breakers,
      journal: store.journal,
      probes: { ...(config.haproxySocket ? { haproxy: asCheck(probes.haproxy) } : {}), docker: asCheck(probes.docker) },
    }),
    onVote: (v) => log.info('voted', v),
    onError: (err) => log.warn('voter', { error: err.message }),
  });
  try {
    await voter.start();
  } catch (err) {
    await heartbeat.stop();
    throw err;
  }
  return {
    async stop() {
      await voter.stop().catch(() => undefined);
      await heartbeat.stop();
      await store.participants.leave(config.instanceId).catch((err: Error) => log.warn('could not leave the participants', { error: err.message }));
    },
  };
}

/** Heartbeat with a health score: 100, less 40 for each local dependency that is down. The first beat must succeed. */
async function startHeartbeat(ctx: SidecarContext, store: PgStore, probes: DependencyProbes): Promise<Running> {
  const { config, log } = ctx;
  const beat = async (): Promise<void> => {
    const report = await probes.local();
    const down = Object.entries(report.checks).filter(([, s]) => s.status === 'down');
    const score = Math.max(0, 100 - 40 * down.length);
    await store.participants.heartbeat(config.instanceId, score, {
      checks: Object.fromEntries(Object.entries(report.checks).map(([k, s]: [string, DependencyState]) => [k, s.status])),
      pid: process.pid,
    });
  };
  try {
    await beat();
  } catch (err) {
    throw new StartupError(`first heartbeat to PostgreSQL failed: ${(err as Error).message}`);
  }
  let beating = false;
  const timer = setInterval(() => {
    if (beating) return; // a slow beat must not pile up
    beating = true;
    beat()
      .catch((err: Error) => log.warn('heartbeat failed', { error: err.message }))
      .finally(() => {
        beating = false;
      });
  }, config.heartbeatSec * 1000);
  timer.unref();
  return { stop: async () => clearInterval(timer) };
}

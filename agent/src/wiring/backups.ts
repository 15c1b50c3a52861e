import type { TeamDirectory } from '../config/team-directory';
import { startSidecarBackups } from '../backup/sidecar-backups';
import type { PgStore } from '../store';
import { nothingRunning, type Running, type SidecarContext } from './context';
import type { Operations } from './operations';

/** Scheduled configuration backups of every team whose controller runs on this host (none without a teams file). */
export function startBackups(ctx: SidecarContext, store: PgStore, teams: TeamDirectory, ops: Operations): Running {
  const scheduler = startSidecarBackups({
    docker: ops.docker,
    environments: store.environments,
    teams: () => teams.list(),
    root: ctx.dataDir.backups,
    registry: ops.metrics.registry,
    onError: (team, err) => ctx.log.warn('scheduled configuration backup failed', { team, error: (err as Error)?.message ?? String(err) }),
  });
  return scheduler ?? nothingRunning;
}

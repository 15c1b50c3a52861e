import type { TeamDirectory } from '../config/team-directory';
import { teamJenkinsClientFactory } from '../environments/controllers';
import { recoverEnvironmentOperations } from '../environments/recovery';
import { registerEnvironmentMethods, type EnvironmentMethodDeps } from '../rpc/methods/environment';
import type { PgStore } from '../store';
import type { TrafficDeps } from '../traffic/switch';
import type { SidecarContext } from './context';
import type { Operations } from './operations';

/**
 * Deploy, stop, validate, migrate, quiet-down, backups and coordination.execute (which moves
 * traffic with the traffic area's drivers). Environment operations a killed sidecar left running
 * are closed; a source a migration quieted down gets its executors back.
 */
export async function wireEnvironments(ctx: SidecarContext, store: PgStore, teams: TeamDirectory, ops: Operations, traffic: TrafficDeps): Promise<void> {
  const { config, dataDir, log } = ctx;
  const jenkinsFor = teamJenkinsClientFactory();
  const deps: EnvironmentMethodDeps = {
    store,
    runner: ops.runner,
    teams,
    docker: ops.docker,
    jenkinsFor,
    backupRoot: dataDir.backups,
    migrateSnapshotDir: dataDir.migrateSnapshots,
    networking: config.controllerNetworking,
    controllerFiles: config.controllerFiles,
    traffic,
    triggers: traffic.triggers,
  };
  registerEnvironmentMethods(ops.registry, deps);
  const recovered = await recoverEnvironmentOperations({ journal: store.journal, jenkinsFor, team: (n) => teams.find(n), docker: ops.docker }, config.instanceId).catch((err: Error) => {
    log.warn('environment operation recovery failed', { error: err.message });
    return [];
  });
  for (const a of recovered) log.warn('closed an unfinished environment operation', { ...a });
}

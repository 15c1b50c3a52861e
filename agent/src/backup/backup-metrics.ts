import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Metrics of the configuration-state backups, registered in the registry the
 * transport serves (/metrics). The alert for stale backups keys on the gauge.
 */
export interface BackupMetrics {
  recordSuccess(team: string, at: Date): void;
  recordFailure(team: string): void;
}

export function createBackupMetrics(registry: Registry): BackupMetrics {
  const lastSuccess = new Gauge({
    name: 'sidecar_backup_last_success_timestamp_seconds',
    help: 'Unix time of the last successful configuration-state backup, by team.',
    labelNames: ['team'],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'sidecar_backup_failures_total',
    help: 'Configuration-state backups that failed, by team.',
    labelNames: ['team'],
    registers: [registry],
  });
  return {
    recordSuccess: (team, at) => lastSuccess.set({ team }, Math.floor(at.getTime() / 1000)),
    recordFailure: (team) => failures.inc({ team }),
  };
}

import type { Team } from '../../../catalog/teams-file';
import type { BackupMetrics } from './backup-metrics';

/**
 * The configuration-state backup every `state_backup_interval` (default 15m): every interval, one backup
 * per team (one after another, so a slow team never runs twice at once).
 * A failure is reported and counted, never thrown: the next round tries again.
 */
export interface BackupSchedulerOptions {
  intervalMs: number;
  teams: () => Team[];
  /** 'skipped' (e.g. the team has no container on this host) counts neither as success nor failure. */
  backup: (team: Team) => Promise<'done' | 'skipped'>;
  metrics?: BackupMetrics;
  onError?: (team: string, err: unknown) => void;
  now?: () => Date;
  /** Run a round right away instead of after the first interval. */
  runAtStart?: boolean;
}

export interface BackupScheduler {
  /** Runs one round now (also what the timer calls). */
  runOnce(): Promise<void>;
  /** Stops the timer and waits for a round in progress. */
  stop(): Promise<void>;
}

export function startBackupScheduler(opts: BackupSchedulerOptions): BackupScheduler {
  const now = opts.now ?? (() => new Date());
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let round: Promise<void> | null = null;

  const runOnce = (): Promise<void> => {
    if (round) return round;
    round = (async () => {
      for (const team of opts.teams()) {
        if (stopped) break;
        try {
          if ((await opts.backup(team)) === 'done') opts.metrics?.recordSuccess(team.team_name, now());
        } catch (err) {
          opts.metrics?.recordFailure(team.team_name);
          opts.onError?.(team.team_name, err);
        }
      }
    })().finally(() => {
      round = null;
    });
    return round;
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      void runOnce().finally(schedule);
    }, opts.intervalMs);
    timer.unref();
  };
  if (opts.runAtStart) void runOnce().finally(schedule);
  else schedule();
  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await round;
    },
  };
}

/** `15m` / `90s` / `1h` / `500ms` (the teams file's state_backup_interval) in milliseconds. */
export function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!m) throw new RangeError(`invalid duration ${JSON.stringify(text)}: expected e.g. 15m`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
}

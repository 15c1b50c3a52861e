import type { DataDirLayout } from '../config/data-dir';
import type { SidecarConfig } from '../config/sidecar-config';
import type { Log } from '../log';
import type { Clock } from '../store/contract';
import type { ProcessHealth } from './process-health';

/** What every area of the sidecar is built from. */
export interface SidecarContext {
  config: SidecarConfig;
  clock: Clock;
  log: Log;
  dataDir: DataDirLayout;
  health: ProcessHealth;
}

/** A failure at start: one line a person can act on. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** What an area leaves running: stopped once, in the reverse order the areas started. */
export interface Running {
  stop(): Promise<void>;
}

export const nothingRunning: Running = { stop: async () => undefined };

/**
 * The areas started so far. `stopAll` stops them last-first; `undo` does the
 * same after a failed start, where one area's error must not keep the others running.
 */
export class RunningAreas {
  private readonly areas: Running[] = [];

  add<R extends Running>(area: R): R {
    this.areas.push(area);
    return area;
  }

  async stopAll(): Promise<void> {
    for (const a of [...this.areas].reverse()) await a.stop();
  }

  async undo(): Promise<void> {
    for (const a of [...this.areas].reverse()) await a.stop().catch(() => undefined);
  }
}

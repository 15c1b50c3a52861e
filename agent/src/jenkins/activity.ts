import type { ComputerSet, QueueItem } from './api-types';
import { buildRefFromUrl, formatBuildRef, parseBuildRef, sameBuild } from './build-ref';

export interface ActivityVerdict {
  idle: boolean;
  /** Builds still running (the caller's excluded), as `job#n` or `busy executor on <node>`. */
  running: string[];
  /** Queue items still waiting, as task names. */
  queued: string[];
}

/**
 * Pure: is the controller idle apart from the calling build? Looks at every
 * executor *and* one-off executor: a Pipeline's top-level run uses a one-off
 * executor that busyExecutors does not count, so busyExecutors alone would
 * call a controller idle while a pipeline runs. A computer that says it is
 * not idle but shows no executable counts as busy (we cannot tell what runs).
 */
export function assessActivity(computers: ComputerSet, queue: QueueItem[], callerBuild?: string, opts: { queueHandedOver?: boolean } = {}): ActivityVerdict {
  const caller = callerBuild ? parseBuildRef(callerBuild) : null;
  const running: string[] = [];
  for (const c of computers.computer ?? []) {
    let seen = 0;
    let callerHere = false;
    for (const ex of [...(c.executors ?? []), ...(c.oneOffExecutors ?? [])]) {
      const exe = ex.currentExecutable;
      if (!exe) continue;
      seen += 1;
      const ref = exe.url ? buildRefFromUrl(exe.url) : null;
      if (ref && caller && sameBuild(ref, caller)) {
        callerHere = true;
        continue;
      }
      running.push(ref ? formatBuildRef(ref) : exe.fullDisplayName ?? `unknown build on ${c.displayName}`);
    }
    if (seen === 0 && c.idle === false && !callerHere) running.push(`busy executor on ${c.displayName}`);
  }
  const queued = queue.map((q) => q.task?.name ?? `queue item ${q.id}`);
  // queueHandedOver: the controller is quieted down, so its queued items cannot start there
  // (core Queue.isBlockedByShutdown) and are handed to the other side after the migration.
  return { idle: running.length === 0 && (queued.length === 0 || opts.queueHandedOver === true), running, queued };
}

import { spawnSync } from 'node:child_process';

/** process.kill that takes a process already gone (ESRCH: it exited between our look and the signal) as done. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * A crashed host: a SIGKILLed postmaster alone leaves its backends answering on open connections
 * until they notice, so its children go first, stopped before they can reparent. Any of them may
 * exit on its own meanwhile; that is the same end.
 */
export function crashPostmaster(pid: number): void {
  signal(pid, 'SIGSTOP');
  const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const c of children) signal(c, 'SIGKILL');
  signal(pid, 'SIGKILL');
}

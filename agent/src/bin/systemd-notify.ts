import { execFile } from 'node:child_process';
import type { Log } from '../log';

/**
 * Talks to systemd when it supervises the sidecar (Type=notify): READY=1 once
 * the listener, the store and recovery are up, STATUS lines, STOPPING=1 on a
 * graceful stop, and WATCHDOG=1 pings while the event loop turns, so a hung
 * sidecar is restarted (WatchdogSec) and its startup recovery takes over.
 *
 * Node cannot send unix datagrams, so the messages go through systemd-notify(1)
 * (the unit sets NotifyAccess=all because the sender is that child process;
 * MAINPID names the sidecar). Without NOTIFY_SOCKET (not under systemd) this is
 * a no-op. Only our own fixed strings are sent; no shell is involved.
 */
export interface SystemdNotifier {
  ready(status: string): void;
  status(status: string): void;
  stopping(): void;
  /** Stops the watchdog pings. */
  close(): void;
}

export type NotifyRunner = (args: string[], done: (err: Error | null) => void) => void;

const runSystemdNotify: NotifyRunner = (args, done) => {
  execFile('systemd-notify', args, { timeout: 5_000 }, (err) => done(err));
};

/** One line of text for STATUS=: no newlines (each line of the datagram is one assignment). */
const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ').slice(0, 200);

export function systemdNotifier(
  env: Record<string, string | undefined>,
  log: Pick<Log, 'warn'>,
  run: NotifyRunner = runSystemdNotify,
  pid: number = process.pid,
): SystemdNotifier | null {
  if (!env.NOTIFY_SOCKET) return null;
  let warned = false;
  const send = (fields: string[]): void => {
    run([...fields, `MAINPID=${pid}`], (err) => {
      if (err && !warned) {
        warned = true;
        log.warn('could not notify systemd (is systemd-notify installed, and NotifyAccess=all set?)', { error: err.message });
      }
    });
  };
  // systemd asks for a ping at least every WATCHDOG_USEC; WATCHDOG_PID, when set, must be us.
  const usec = Number(env.WATCHDOG_USEC);
  const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === pid;
  let timer: NodeJS.Timeout | null = null;
  if (Number.isFinite(usec) && usec > 0 && forUs) {
    // A timer that fires proves the event loop turns; twice per period leaves room for a slow spawn.
    timer = setInterval(() => send(['WATCHDOG=1']), Math.max(100, Math.floor(usec / 2000)));
    timer.unref();
  }
  return {
    ready: (status) => send(['READY=1', `STATUS=${oneLine(status)}`]),
    status: (status) => send([`STATUS=${oneLine(status)}`]),
    stopping: () => send(['STOPPING=1', 'STATUS=stopping: bringing operations to a safe point']),
    close: () => {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

/**
 * Whether a process with this pid exists AND we may signal it (signal 0 checks
 * without sending anything). Another user's process (EPERM) counts as not
 * ours: every caller goes on to signal or wait for its own child, and a stale
 * pid file naming a reused pid must not be mistaken for our server.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `attempt` (every 200 ms, at most 300 times) until it resolves with
 * something other than null; a rejection counts as "not yet". Throws naming
 * `what` when `timeoutMs` passed first. For integration tests waiting on real
 * processes: bound the wait generously, assert on what comes back.
 */
export async function eventually<T>(what: string, attempt: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 300 && Date.now() < deadline; i++) {
    const v = await attempt().catch(() => null);
    if (v !== null) return v;
    await sleep(200);
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms`);
}

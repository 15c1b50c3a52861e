/**
 * The one wait the sidecar uses between polls and retries. It resolves early,
 * never rejects, when `signal` aborts (a caller that went away, an emergency
 * halt), so the loop around it decides what an abort means. `unref`: the wait
 * alone does not keep the process alive (background retries at shutdown).
 */
export function sleep(ms: number, signal?: AbortSignal, opts: { unref?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    if (opts.unref) t.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}

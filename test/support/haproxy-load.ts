/**
 * Bounded HTTP load through HAProxy with autocannon (keep-alive connections),
 * for the whole of a switch: start it, run the switch, stop it, read the counts.
 */
// autocannon ships no types; this is the part we use.
interface AutocannonResult {
  requests: { total: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
}
interface AutocannonInstance {
  stop(): void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;
const autocannon = require('autocannon') as Autocannon;

export interface LoadRun {
  /** Stops the load and resolves with the totals. */
  stop(): Promise<{ requests: number; non2xx: number; errors: number; timeouts: number }>;
}

export function startLoad(port: number, opts: { connections?: number; maxSeconds?: number; path?: string; rate?: number } = {}): LoadRun {
  let resolveResult!: (r: AutocannonResult) => void;
  let rejectResult!: (e: Error) => void;
  const finished = new Promise<AutocannonResult>((res, rej) => {
    resolveResult = res;
    rejectResult = rej;
  });
  const instance = autocannon(
    {
      url: `http://127.0.0.1:${port}${opts.path ?? '/job/load'}`,
      connections: opts.connections ?? 8,
      duration: opts.maxSeconds ?? 60, // the bound; normally stopped earlier
      ...(opts.rate ? { overallRate: opts.rate } : {}),
      timeout: 10,
    },
    (err, result) => (err ? rejectResult(err) : resolveResult(result)),
  );
  return {
    async stop() {
      instance.stop();
      const r = await finished;
      return { requests: r.requests.total, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts };
    },
  };
}

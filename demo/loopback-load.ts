import { Agent, request } from 'node:http';

/**
 * A small, bounded load through HAProxy so every SLI window has samples: a fixed
 * number of GET /login per second (the path a Jenkins answers without a login),
 * keep-alive, at most `maxInFlight` outstanding, stopped after `maxSeconds` at the
 * latest. Counts answers per environment (the X-Jenkins-Environment header the
 * generated config sets) and per status class.
 */
export interface LoadCounts {
  requests: number;
  ok: number;
  serverErrors: number;
  otherStatus: number;
  socketErrors: number;
  byEnvironment: Record<string, number>;
}

export interface LoopbackLoad {
  counts(): LoadCounts;
  /** When each 5xx or socket error was seen (ms since epoch), the last 1,000. */
  failureTimes(): number[];
  stop(): Promise<LoadCounts>;
}

export function startLoopbackLoad(port: number, opts: { perSecond: number; maxSeconds: number; maxInFlight?: number; path?: string }): LoopbackLoad {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const maxInFlight = opts.maxInFlight ?? 20;
  const c: LoadCounts = { requests: 0, ok: 0, serverErrors: 0, otherStatus: 0, socketErrors: 0, byEnvironment: {} };
  let inFlight = 0;
  const failures: number[] = [];
  const failed = (): void => {
    failures.push(Date.now());
    if (failures.length > 1000) failures.shift();
  };
  const pending = new Set<Promise<void>>();
  const one = (): Promise<void> =>
    new Promise<void>((resolve) => {
      inFlight += 1;
      const done = (): void => {
        inFlight -= 1;
        resolve();
      };
      const req = request({ host: '127.0.0.1', port, path: opts.path ?? '/login', agent, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => {
          c.requests += 1;
          const s = res.statusCode ?? 0;
          if (s >= 200 && s < 400) c.ok += 1;
          else if (s >= 500) {
            c.serverErrors += 1;
            failed();
          }
          else c.otherStatus += 1;
          const env = String(res.headers['x-jenkins-environment'] ?? 'none');
          c.byEnvironment[env] = (c.byEnvironment[env] ?? 0) + 1;
          done();
        });
        res.on('error', () => {
          c.socketErrors += 1;
          failed();
          done();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        c.requests += 1;
        c.socketErrors += 1;
        failed();
        done();
      });
      req.end();
    });
  const tick = setInterval(() => {
    if (inFlight >= maxInFlight) return;
    const p = one();
    pending.add(p);
    void p.then(() => pending.delete(p));
  }, Math.max(10, Math.round(1000 / opts.perSecond)));
  let stopped = false;
  const bound = setTimeout(() => void stop(), opts.maxSeconds * 1000);
  bound.unref();
  async function stop(): Promise<LoadCounts> {
    if (!stopped) {
      stopped = true;
      clearInterval(tick);
      clearTimeout(bound);
    }
    await Promise.all([...pending]);
    agent.destroy();
    return { ...c, byEnvironment: { ...c.byEnvironment } };
  }
  return { counts: () => ({ ...c, byEnvironment: { ...c.byEnvironment } }), failureTimes: () => [...failures], stop };
}

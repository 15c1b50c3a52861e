import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';

/**
 * Small HTTP servers standing in for Jenkins controllers behind HAProxy. The
 * health path always answers 200 (HAProxy keeps the server UP) while ordinary
 * requests can be switched to fail, to answer slowly, or to be held open until
 * the test releases them (a session a drain has to wait for).
 */
export interface Backend {
  port: number;
  name: string;
  /** Ordinary requests answered so far. */
  requests(): number;
  /** errorRate 0..1 of ordinary requests answer 500; delayMs before each ordinary answer; hold: see release(). */
  set(mode: { errorRate?: number; delayMs?: number; hold?: boolean }): void;
  /** Ordinary requests received while hold was on and not answered yet. */
  held(): number;
  /** Answers every held request now (as errorRate says) and turns hold off. */
  release(): void;
  close(): Promise<void>;
}

export const HEALTH_PATH = '/login';

export async function startBackend(port: number, name: string): Promise<Backend> {
  let errorRate = 0;
  let delayMs = 0;
  let count = 0;
  let errorBudget = 0;
  let hold = false;
  // A long request a controller really keeps open, e.g. the CLI's upload side
  // (jenkinsci/jenkins core/src/main/java/jenkins/util/FullDuplexHttpService.java, upload(): waits until the command completed).
  const holding: Array<() => void> = [];
  const server: Server = createHttpServer((req, res) => {
    if (req.url === HEALTH_PATH) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    count += 1;
    // Deterministic share of 500s: accumulate the rate, fail when it crosses 1.
    errorBudget += errorRate;
    const fail = errorBudget >= 1;
    if (fail) errorBudget -= 1;
    const answer = (): void => {
      res.writeHead(fail ? 500 : 200, { 'content-type': 'text/plain', 'x-backend': name });
      res.end(fail ? 'injected failure' : `hello from ${name}`);
    };
    if (hold) {
      holding.push(answer);
      // A client that gave up is no longer held.
      res.once('close', () => {
        const i = holding.indexOf(answer);
        if (i >= 0) holding.splice(i, 1);
      });
    } else if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
  server.keepAliveTimeout = 30000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    name,
    requests: () => count,
    set(mode) {
      if (mode.errorRate !== undefined) errorRate = mode.errorRate;
      if (mode.delayMs !== undefined) delayMs = mode.delayMs;
      if (mode.hold !== undefined) hold = mode.hold;
    },
    held: () => holding.length,
    release() {
      hold = false;
      for (const answer of holding.splice(0)) answer();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createNetServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A blue base port whose green (+100) and agent ports (+agentOffset, +agentOffset+100) are free
 * too. Random in 20000..31999: below Linux's ephemeral range (32768+), where port-0 listeners and
 * outgoing connections of other tests land, and random so engineers testing at once rarely collide.
 */
export async function freeTeamPorts(): Promise<{ webPort: number; agentPort: number }> {
  for (let i = 0; i < 200; i += 1) {
    const web = 20000 + Math.floor(Math.random() * 12000);
    const agent = web + 200;
    const all = [web, web + 100, agent, agent + 100];
    let ok = true;
    for (const p of all) if (!(await portFree(p))) ok = false;
    if (ok) return { webPort: web, agentPort: agent };
  }
  throw new Error('no free port set found for a test team');
}

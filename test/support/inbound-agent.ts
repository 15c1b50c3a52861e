import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';

/**
 * The test inbound agent (test/fixtures/inbound-agent.js) as a child process,
 * and a one-shot WebSocket agent handshake for checking what a controller
 * answers. Every wait is bounded.
 */
export interface AgentEvent {
  t: number;
  agent: string;
  event: 'connected' | 'refused' | 'build' | 'done' | 'lost' | 'terminated';
  status?: number;
  job?: string;
  number?: number;
}

export interface InboundAgentProcess {
  name: string;
  events: AgentEvent[];
  /** Resolves with the first event (after `since` events) matching `pred`; rejects after timeoutMs. */
  waitFor(pred: (e: AgentEvent) => boolean, timeoutMs?: number, since?: number): Promise<AgentEvent>;
  /** Ends the builds it holds (HOLD_MS=until-signal). */
  finishBuilds(): void;
  stop(): Promise<void>;
}

const SCRIPT = join(__dirname, '..', 'fixtures', 'inbound-agent.js');

export function startInboundAgent(opts: { url: string; name: string; secret: string; hold: number | 'until-signal'; maxConnects?: number }): InboundAgentProcess {
  const child: ChildProcess = spawn(process.execPath, [SCRIPT], {
    env: { PATH: process.env.PATH ?? '', NODE_PATH: join(__dirname, '..', '..', 'node_modules'), JENKINS_URL: opts.url, AGENT_NAME: opts.name, AGENT_SECRET: opts.secret, HOLD_MS: String(opts.hold), MAX_CONNECTS: String(opts.maxConnects ?? 50) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: AgentEvent[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        events.push(JSON.parse(line) as AgentEvent);
      } catch {
        continue;
      }
      waiters.splice(0).forEach((w) => w());
    }
  });
  return {
    name: opts.name,
    events,
    waitFor(pred, timeoutMs = 15_000, since = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`agent ${opts.name}: no matching event within ${timeoutMs} ms; saw ${JSON.stringify(events)}`)), timeoutMs);
        const check = (): void => {
          const hit = events.slice(since).find(pred);
          if (hit) {
            clearTimeout(timer);
            resolve(hit);
          } else waiters.push(check);
        };
        check();
      });
    },
    finishBuilds() {
      child.kill('SIGUSR2');
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One WebSocket agent handshake (jenkins.agents.WebSocketAgents): the HTTP status, 101 when accepted. */
export function agentHandshake(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}wsagents/`, { headers, handshakeTimeout: 5000 });
    ws.on('upgrade', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.on('error', (err) => reject(err));
  });
}

/** The node's secret as an admin reads it: the first argument of /computer/<name>/jenkins-agent.jnlp. */
export async function agentSecret(baseUrl: string, user: string, token: string, name: string): Promise<string> {
  const res = await fetch(`${baseUrl}/computer/${encodeURIComponent(name)}/jenkins-agent.jnlp`, { headers: { Authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}` }, signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`jenkins-agent.jnlp of ${name}: HTTP ${res.status}`);
  const m = /<argument>([0-9a-f]{64})<\/argument>/.exec(await res.text());
  if (!m) throw new Error(`jenkins-agent.jnlp of ${name} holds no secret`);
  return m[1];
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Team } from '../../catalog/teams-file';
import { HaproxyRuntime } from '../../agent/src/haproxy/runtime-api';
import { saveServerState } from './haproxy-state-file';
import { freePort } from '../../agent/src/store/embedded-postgres';
import { renderHaproxyConfig, type HaproxyRenderOptions } from '../../library-gen/src/render/haproxy-config';

/**
 * A real haproxy (master-worker, foreground) on a free 127.0.0.1 port with its
 * admin socket in a temp dir, configured by the project's own renderer.
 */
export interface HaproxyProcess {
  dir: string;
  socketPath: string;
  masterSocketPath: string;
  stateFile: string;
  cfgPath: string;
  httpPort: number;
  runtime: HaproxyRuntime;
  child: ChildProcess;
  log(): string;
  /** Re-renders the config (optionally with new starting weights) and reloads (SIGUSR2 to the master). */
  reload(extra?: Partial<HaproxyRenderOptions>, saveState?: boolean): Promise<void>;
  stop(): Promise<void>;
}

export async function startHaproxy(teams: Team[], extra: Partial<HaproxyRenderOptions> = {}): Promise<HaproxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'jsm-haproxy-'));
  const socketPath = join(dir, 'admin.sock');
  const masterSocketPath = join(dir, 'master.sock');
  const stateFile = join(dir, 'server-state');
  const cfgPath = join(dir, 'haproxy.cfg');
  const httpPort = await freePort();
  const render = (more: Partial<HaproxyRenderOptions>): string =>
    renderHaproxyConfig(teams, {
      bindAddress: '127.0.0.1',
      httpPort,
      statsSocket: socketPath,
      serverStateFile: stateFile,
      checkIntervalMs: 200,
      agentPortOffset: null,
      ...extra,
      ...more,
    });
  writeFileSync(cfgPath, render({}));
  writeFileSync(stateFile, '');
  let logText = '';
  const child = spawn('haproxy', ['-W', '-S', `${masterSocketPath},mode,600`, '-f', cfgPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (logText += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (logText += d.toString()));
  const runtime = new HaproxyRuntime(socketPath, { timeoutMs: 2000 });
  const waitUp = async (): Promise<void> => {
    const deadline = Date.now() + 10000;
    for (;;) {
      try {
        const stats = await runtime.showStat();
        const servers = stats.filter((s) => teams.some((t) => s.backend === t.haproxy_backend));
        if (servers.length > 0 && servers.every((s) => s.status === 'UP')) return;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${logText}`);
      if (Date.now() > deadline) throw new Error(`haproxy did not get all servers UP within 10 s: ${logText}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await waitUp();
  const proc: HaproxyProcess = {
    dir,
    socketPath,
    masterSocketPath,
    stateFile,
    cfgPath,
    httpPort,
    runtime,
    child,
    log: () => logText,
    async reload(more = {}, saveState = true) {
      if (saveState) await saveServerState(runtime, stateFile);
      writeFileSync(cfgPath, render(more));
      child.kill('SIGUSR2');
      // The new worker owns the socket once it answers with the new process's uptime.
      const deadline = Date.now() + 10000;
      const before = logText.length;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        if (/Loading success|reexec|Reexecuting/i.test(logText.slice(before))) break;
      }
      await waitUp();
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return proc;
}

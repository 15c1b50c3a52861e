import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Team } from '../catalog/teams-file';
import { HaproxyRuntime } from '../agent/src/haproxy/runtime-api';
import { renderHaproxyConfig } from '../library-gen/src/render/haproxy-config';

/**
 * The demo's haproxy: the config comes from library-gen's own renderer (the same
 * one `library-gen build` writes haproxy/haproxy.cfg with), bound to loopback on a
 * free port with its Runtime API socket in the demo's data dir. Master-worker in
 * the foreground, so stopping the child stops haproxy.
 */
export interface DemoHaproxy {
  httpPort: number;
  pid: number;
  socketPath: string;
  cfgPath: string;
  runtime: HaproxyRuntime;
  stop(): Promise<void>;
}

export async function startDemoHaproxy(dir: string, teams: Team[], httpPort: number): Promise<DemoHaproxy> {
  mkdirSync(dir, { recursive: true });
  const socketPath = join(dir, 'admin.sock');
  const cfgPath = join(dir, 'haproxy.cfg');
  const stateFile = join(dir, 'server-state');
  writeFileSync(
    cfgPath,
    renderHaproxyConfig(teams, {
      bindAddress: '127.0.0.1',
      httpPort,
      statsSocket: socketPath,
      serverStateFile: stateFile,
      // Faster than the production 2 s so an injected fault shows within the demo's short windows.
      checkIntervalMs: 500,
      // No TCP agent listeners: the stand-in controllers take no inbound agents.
      agentPortOffset: null,
    }),
  );
  writeFileSync(stateFile, '');
  const logFd = openSync(join(dir, 'haproxy.log'), 'a', 0o600);
  const child: ChildProcess = spawn('haproxy', ['-W', '-S', `${join(dir, 'master.sock')},mode,600`, '-f', cfgPath], {
    stdio: ['ignore', logFd, logFd],
    // Own process group: the demo stops it after the sidecar, not when Ctrl-C reaches the terminal's group.
    detached: true,
  });
  closeSync(logFd);
  const runtime = new HaproxyRuntime(socketPath, { timeoutMs: 2000 });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
  };
  // Servers are DOWN until the controllers exist; only wait for the Runtime API to answer.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await runtime.showStat();
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`haproxy did not start (see ${join(dir, 'haproxy.log')}): ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { httpPort, pid: child.pid ?? -1, socketPath, cfgPath, runtime, stop };
}

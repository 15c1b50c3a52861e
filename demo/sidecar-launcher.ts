import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The real `jenkins-sidecar` binary as a user starts it: no SIDECAR_DATABASE_URL
 * (so it runs its embedded PostgreSQL in the data dir) and no tokens file (so it
 * generates the local ops token and says where). The port is read from the line
 * it prints once it listens.
 */
export interface DemoSidecar {
  httpUrl: string;
  rpcUrl: string;
  opsTokenFile: string;
  opsToken: string;
  logFile: string;
  pid: number;
  /** SIGTERM and wait (the sidecar stops its embedded PostgreSQL itself); SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export interface SidecarLaunch {
  bin: string;
  dataDir: string;
  teamsFile: string;
  haproxySocket: string;
  logDir: string;
  /** Extra SIDECAR_* settings (e.g. where the controllers' secrets and library live). */
  env?: Record<string, string>;
}

export async function startDemoSidecar(l: SidecarLaunch): Promise<DemoSidecar> {
  const logFile = join(l.logDir, 'sidecar.log');
  // Straight to the file, not through a pipe: if the demo dies, a pipe would break the sidecar's
  // writes (EPIPE) and could leave its embedded PostgreSQL behind; the next demo's sweep stops it.
  const logFd = openSync(logFile, 'a', 0o600);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? l.dataDir,
    SIDECAR_LISTEN: '127.0.0.1:0',
    SIDECAR_DATA_DIR: l.dataDir,
    SIDECAR_TEAMS_FILE: l.teamsFile,
    SIDECAR_HAPROXY_SOCKET: l.haproxySocket,
    SIDECAR_INSTANCE_ID: 'demo-sidecar',
    SIDECAR_LOG_LEVEL: 'info',
    SIDECAR_SHUTDOWN_GRACE_SEC: '5',
    ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
    ...(l.env ?? {}),
  };
  // Own process group: Ctrl-C in the terminal reaches only the demo, which then sends ONE
  // SIGTERM (a second signal would make the sidecar exit without its graceful stop).
  const child: ChildProcess = spawn(process.execPath, [l.bin], { env, stdio: ['ignore', logFd, logFd], detached: true });
  closeSync(logFd);
  const logText = (): string => {
    try {
      return readFileSync(logFile, 'utf8').slice(0, 256 * 1024);
    } catch {
      return '';
    }
  };

  const stop = async (graceMs = 20_000): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    }
  };

  const deadline = Date.now() + 60_000;
  let listening: RegExpExecArray | null = null;
  let text = '';
  while (!listening) {
    text = logText();
    listening = /listening on (http:\/\/[^\s]+) \(JSON-RPC at (ws:\/\/[^\s)]+)\)/.exec(text);
    if (listening) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      const why = text.split('\n').filter((x) => x.startsWith('jenkins-sidecar:')).pop() ?? text.slice(-500);
      throw new Error(`jenkins-sidecar did not start (log ${logFile}): ${why}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const tokenLine = /ops token in (\S+) \(mode 600\)/.exec(text);
  const opsTokenFile = tokenLine?.[1] ?? join(l.dataDir, 'ops-token');
  return {
    httpUrl: listening[1]!.replace(/\/$/, ''),
    rpcUrl: listening[2]!,
    opsTokenFile,
    opsToken: readFileSync(opsTokenFile, 'utf8').trim(),
    logFile,
    pid: child.pid ?? -1,
    stop,
  };
}

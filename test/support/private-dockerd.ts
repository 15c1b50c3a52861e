import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A test's own Docker engine, beside the machine's shared one: its own socket,
 * data root, exec root (so its own managed containerd) and pid file, and no
 * bridge, iptables or forwarding changes, so it neither touches the host's
 * network nor sees the shared engine's containers. A fault test may stop and
 * start it as a package upgrade would, without killing other tests' containers.
 *
 * Paths are short (`/tmp/jd-XXXXXX/…`): unix socket paths are limited to 107
 * bytes and containerd's socket lives under the exec root.
 */
export interface PrivateDockerd {
  dir: string;
  socketPath: string;
  /** DOCKER_HOST for a client of this engine (`unix://…`). */
  dockerHost: string;
  docker: Docker;
  /** The running dockerd's pid, or null while stopped. */
  pid(): number | null;
  running(): boolean;
  /** Everything the engine printed (all its runs), last ~256 KB. */
  log(): string;
  /** Starts dockerd on the same data root (again) and waits until it answers a ping. */
  start(): Promise<void>;
  /** SIGTERM (what a package upgrade sends), wait for exit; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** stop(), unmount whatever it left mounted under the dir, remove the dir (its images and containers go with it). */
  destroy(): Promise<void>;
}

const LOG_LIMIT = 256 * 1024;

/** Mount points under `dir` (deepest first), from this process's mount table. */
function mountsUnder(dir: string): string[] {
  const points: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // Field 5 is the mount point; octal escapes (\040) only occur in names we do not create.
    const point = line.split(' ')[4];
    if (point && (point === dir || point.startsWith(`${dir}/`))) points.push(point);
  }
  return points.sort((a, b) => b.length - a.length);
}

/**
 * Pids of processes whose command line names `dir` (the engine's containerd and
 * shims are started with paths under it): only used after a SIGKILL of our own
 * dockerd, whose children then outlive it.
 */
function processesNaming(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(join('/proc', entry, 'cmdline'), 'utf8').split('\0');
      if (cmd.some((arg) => arg.includes(`${dir}/`))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** A pid file's process, if it still runs. */
function pidFileAlive(pidFile: string): boolean {
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

/** Unmounts what an engine left mounted under `dir` (deepest first), then removes the dir. */
function removeEngineDir(dir: string): void {
  for (const point of mountsUnder(dir)) {
    try {
      execFileSync('umount', ['-l', point], { stdio: 'ignore' });
    } catch {
      // unmounted with its parent
    }
  }
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

/**
 * Dirs of engines from runs that were killed before their cleanup (a jest
 * worker SIGKILLed): removed when neither their dockerd nor any process naming
 * the dir (containerd, shims) still runs. A live one (another run) is left alone.
 */
function removeAbandonedEngineDirs(): void {
  for (const name of readdirSync('/tmp')) {
    if (!/^jd-[A-Za-z0-9]{6}$/.test(name)) continue;
    const dir = join('/tmp', name);
    if (!existsSync(join(dir, 'root')) || pidFileAlive(join(dir, 'd.pid')) || processesNaming(dir).length > 0) continue;
    removeEngineDir(dir);
  }
}

export async function startPrivateDockerd(opts: { startTimeoutMs?: number } = {}): Promise<PrivateDockerd> {
  removeAbandonedEngineDirs();
  const dir = mkdtempSync('/tmp/jd-');
  const socketPath = join(dir, 'd.sock');
  const dockerHost = `unix://${socketPath}`;
  const docker = new Docker({ socketPath });
  const args = [
    `--host=${dockerHost}`,
    `--data-root=${join(dir, 'root')}`,
    `--exec-root=${join(dir, 'x')}`,
    `--pidfile=${join(dir, 'd.pid')}`,
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
  ];
  let text = '';
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const isRunning = (): boolean => !!child && child.exitCode === null && child.signalCode === null;

  const start = async (): Promise<void> => {
    if (isRunning()) return;
    const c = spawn('dockerd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    exited = new Promise<void>((r) => c.once('exit', () => r()));
    const onData = (b: Buffer): void => {
      text += b.toString();
      if (text.length > LOG_LIMIT) text = text.slice(-LOG_LIMIT);
    };
    c.stdout?.on('data', onData);
    c.stderr?.on('data', onData);
    const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
    for (let i = 0; i < 600; i++) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`private dockerd exited (${c.exitCode ?? c.signalCode}) while starting:\n${text.slice(-4000)}`);
      try {
        await docker.ping();
        return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) break;
      await sleep(100);
    }
    throw new Error(`private dockerd at ${socketPath} did not answer a ping within ${opts.startTimeoutMs ?? 30_000} ms:\n${text.slice(-4000)}`);
  };

  const stop = async (graceMs = 30_000): Promise<void> => {
    if (!isRunning()) return;
    const c = child!;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
    // The socket file is removed by a clean shutdown; after a SIGKILL it stays and would look alive.
    rmSync(socketPath, { force: true });
  };

  const handle: PrivateDockerd = {
    dir,
    socketPath,
    dockerHost,
    docker,
    pid: () => (isRunning() ? (child!.pid ?? null) : null),
    running: isRunning,
    log: () => text,
    start,
    stop,
    async destroy() {
      await stop();
      // A dockerd that had to be killed leaves its containerd and shims behind: they hold the mounts.
      for (let i = 0; i < 3; i++) {
        const left = processesNaming(dir);
        if (left.length === 0) break;
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await sleep(300);
      }
      // The engine leaves its default network namespace (exec root/netns/default) bind-mounted.
      removeEngineDir(dir);
    },
  };
  try {
    await start();
  } catch (err) {
    await handle.destroy().catch(() => undefined);
    throw err;
  }
  return handle;
}

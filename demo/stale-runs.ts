import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { pidAlive } from '../agent/src/store/pid-alive';
import { removeTeamObjects } from '../test/support/docker-teams';

/**
 * haproxy and the sidecar run in their own process groups (so Ctrl-C reaches the
 * demo first and it stops them in order). If the demo itself is killed (SIGKILL,
 * closed terminal), they would outlive it: each run records its pids, and the next
 * run stops what a dead run left behind, checking each pid still is that run's
 * process (its command line or environment names the run's dir) before signalling.
 */
export interface RunPids {
  demo: number;
  team: string;
  sidecar?: number;
  haproxy?: number;
}

const PIDS_FILE = 'pids.json';

export function recordPids(runDir: string, pids: RunPids): void {
  writeFileSync(join(runDir, PIDS_FILE), JSON.stringify(pids), { mode: 0o600 });
}

/** True when /proc says the pid belongs to this run (so a reused pid is never signalled). */
function belongsTo(pid: number, runDir: string): boolean {
  for (const f of ['cmdline', 'environ']) {
    try {
      if (readFileSync(`/proc/${pid}/${f}`, 'utf8').includes(runDir)) return true;
    } catch {
      // gone, or not ours to read
    }
  }
  return false;
}

function processesNaming(runDir: string): number[] {
  const found: number[] = [];
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').some((arg) => arg.startsWith(`${runDir}/`))) found.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function stopPid(pid: number, timeoutMs: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** Stops and removes what earlier, dead demo runs under `demoRoot` left running. Returns one line per run cleaned. */
export async function sweepStaleRuns(demoRoot: string, docker: Docker): Promise<string[]> {
  if (!existsSync(demoRoot)) return [];
  const cleaned: string[] = [];
  for (const name of readdirSync(demoRoot).filter((n) => n.startsWith('run-')).sort()) {
    const runDir = join(demoRoot, name);
    let pids: RunPids;
    try {
      pids = JSON.parse(readFileSync(join(runDir, PIDS_FILE), 'utf8')) as RunPids;
    } catch {
      continue; // a failed run's kept logs, or one that never started anything
    }
    if (pidAlive(pids.demo)) continue; // another demo that is still running
    const stopped: string[] = [];
    // The sidecar first: its graceful stop also stops its embedded PostgreSQL.
    for (const [what, pid, graceMs] of [
      ['jenkins-sidecar', pids.sidecar, 25_000],
      ['haproxy', pids.haproxy, 5_000],
    ] as const) {
      if (pid && pidAlive(pid) && belongsTo(pid, runDir)) {
        await stopPid(pid, graceMs);
        stopped.push(`${what} pid ${pid}`);
      }
    }
    // What the dead run's processes left in turn (an embedded PostgreSQL whose sidecar died): its command line names the run dir.
    for (const pid of processesNaming(runDir)) {
      await stopPid(pid, 10_000);
      stopped.push(`pid ${pid}`);
    }
    await removeTeamObjects(docker, pids.team);
    rmSync(runDir, { recursive: true, force: true });
    cleaned.push(`${runDir}: ${stopped.length ? `stopped ${stopped.join(', ')}; ` : ''}removed team ${pids.team}'s containers and volumes and the run's data`);
  }
  return cleaned;
}

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import Docker from 'dockerode';
import { LABEL_MANAGED, LABEL_TEAM } from '../../agent/src/docker/labels';
import { removeTeamObjects } from '../support/docker-teams';
import { ensureStandinImage } from '../support/standin-image';

/**
 * Ctrl-C in the middle of `npm run demo` (SIGINT to the whole foreground process
 * group, as a terminal sends it) once its controllers, haproxy and sidecar are up:
 * everything the demo started goes away, and a container it did not start, even one
 * carrying the sidecar's labels for another team, keeps running.
 */
const REPO_ROOT = join(__dirname, '..', '..');
const team = `demo${randomBytes(3).toString('hex')}`;
const bystanderTeam = `by${randomBytes(3).toString('hex')}`;
const docker = new Docker();
let bystander: Docker.Container | undefined;

beforeAll(async () => {
  const images = await ensureStandinImage(docker);
  bystander = await docker.createContainer({
    Image: images.v1,
    name: `jenkins-${bystanderTeam}-blue`,
    Labels: { [LABEL_MANAGED]: 'true', [LABEL_TEAM]: bystanderTeam },
    HostConfig: { NetworkMode: 'none' },
  });
  await bystander.start();
}, 120_000);

afterAll(async () => {
  await bystander?.remove({ force: true }).catch(() => undefined);
  await removeTeamObjects(docker, team);
});

function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text)) found.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.setTimeout(1000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

it('Ctrl-C stops its containers, volumes, haproxy, sidecar and PostgreSQL, and nothing else', async () => {
  const child = spawn('npm', ['run', 'demo', '--', '--team', team], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const hard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 240_000);
  try {
    // Up to the point where the controllers serve through haproxy (bounded by the hard timeout above).
    const deadline = Date.now() + 200_000;
    while (!out.includes(`haproxy sees ${team}-blue UP`)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the demo did not get its controllers up:\n${out.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const sidecarUrl = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out)!;
    const haproxyPort = Number(/frontend http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)![1]);
    const runDir = /demo data in (\S+)\)/.exec(out)![1]!;
    const dashboard = await fetch(`${sidecarUrl[1]}/`, { signal: AbortSignal.timeout(5000) });
    expect(dashboard.status).toBe(200);
    const filters = JSON.stringify({ label: [`${LABEL_MANAGED}=true`, `${LABEL_TEAM}=${team}`] });
    expect((await docker.listContainers({ filters })).map((c) => c.Names[0]).sort()).toEqual([`/jenkins-${team}-blue`, `/jenkins-${team}-green`]);

    process.kill(-child.pid!, 'SIGINT');
    await exited;

    expect(out).toContain('SIGINT: stopping everything the demo started');
    expect(out).toContain('stopped; nothing of the demo is left running');
    expect(await docker.listContainers({ all: true, filters })).toEqual([]);
    expect((await docker.listVolumes({ filters })).Volumes ?? []).toEqual([]);
    expect(await portOpen(Number(sidecarUrl[2]))).toBe(false);
    expect(await portOpen(haproxyPort)).toBe(false);
    expect(existsSync(runDir)).toBe(false);
    // haproxy's and PostgreSQL's command lines name files in the run dir: no such process is left.
    expect(processesMentioning(runDir)).toEqual([]);
    // Not started by the demo: still running.
    expect((await bystander!.inspect()).State.Running).toBe(true);
  } finally {
    clearTimeout(hard);
    // npm itself ends by the SIGINT (signalCode set, exitCode null); kill the group only if it still runs.
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}, 260_000);

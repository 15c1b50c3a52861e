import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { LABEL_MANAGED, LABEL_TEAM } from '../../agent/src/docker/labels';
import { removeTeamObjects } from '../support/docker-teams';

/**
 * `npm run demo -- --exit`, exactly as the README tells a user to run it (with a
 * random team name, since other tests share this machine's Docker engine): the
 * generated switch pipeline promotes green, the switch back breaches its SLI on
 * the injected fault and rolls back, and the demo exits 0 having removed its
 * containers, volumes and data dir. Long by nature (real haproxy, Docker,
 * PostgreSQL, Groovy and ansible): about 1.5 to 3 minutes on a shared machine.
 */
const REPO_ROOT = join(__dirname, '..', '..');
const team = `demo${randomBytes(3).toString('hex')}`;
const docker = new Docker();

afterAll(async () => {
  // Only if the demo failed to clean up after itself: the test must not leak either.
  await removeTeamObjects(docker, team);
});

function runDemo(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'demo', '--', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    // Bound: SIGINT to the demo's whole group first (its own cleanup), then SIGKILL.
    const soft = setTimeout(() => process.kill(-child.pid!, 'SIGINT'), timeoutMs);
    const hard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs + 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(soft);
      clearTimeout(hard);
      resolve({ code, out });
    });
  });
}

it('npm run demo -- --exit: switch promoted to green, faulty switch back rolled back with SLI_BREACH, exit 0, nothing left behind', async () => {
  const { code, out } = await runDemo(['--exit', '--team', team], 270_000);
  const lines = out.split('\n');
  const resultLine = (name: string): string => lines.find((l) => l.includes(`DEMO RESULT ${name}:`)) ?? `(no DEMO RESULT ${name} line)\n${out.slice(-4000)}`;

  expect(resultLine('switch')).toMatch(/DEMO RESULT switch: OK: promoted to green, all traffic on green \(blue=0 green=100\); blue stays in quiet-down/);
  expect(resultLine('rollback')).toMatch(/DEMO RESULT rollback: OK: SLI_BREACH: .*all traffic back on green \(blue=0 green=100\).*green's quiet-down lifted/);
  expect(code).toBe(0);

  // The phases a user reads, in order.
  const phases = lines.filter((l) => l.includes('==> ')).map((l) => l.replace(/^.*==> /, ''));
  const order = ['Docker engine', 'Teams file', 'library-gen build', 'haproxy', 'jenkins-sidecar', `Team ${team}`, 'Load', 'Compiling', 'Pipeline', 'Pipeline #2', 'DEMO PASSED', 'Stopping'];
  let at = -1;
  for (const p of order) {
    const i = phases.findIndex((x, idx) => idx > at && x.startsWith(p));
    expect({ phase: p, found: i > at }).toEqual({ phase: p, found: true });
    at = i;
  }
  // The pipeline ran in the harness against the real sidecar: its console shows the stages and the breach.
  expect(out).toContain('[Pipeline] stage (Progressive Traffic Switch)');
  // Migrate-before-switch: in each build the migration's stage starts before the switch's, and post { failure } lifts the source's quiet-down.
  const stageStarts = lines.filter((l) => /\[Pipeline\] stage \((State Migration & Validation|Progressive Traffic Switch)\)/.test(l)).map((l) => (l.includes('Migration') ? 'migrate' : 'switch'));
  expect(stageStarts).toEqual(['migrate', 'switch', 'migrate', 'switch']);
  expect(out).toMatch(/failed requests during build #1 \(deploy, migration with green's reload, switch\): \d+ of \d+/);
  expect(out).toMatch(/quietDownEnvironment: \S+\/green accepts new builds/);
  expect(out).toContain('FAULT INJECTED');
  expect(out).toMatch(/ERROR: progressiveTrafficSwitch: SLI_BREACH/);
  expect(out).toMatch(/executeEmergencyRollback: rollback.emergency for team/);

  // Everything it started is gone: containers and volumes of its team, its data dir.
  const filters = JSON.stringify({ label: [`${LABEL_MANAGED}=true`, `${LABEL_TEAM}=${team}`] });
  expect(await docker.listContainers({ all: true, filters })).toEqual([]);
  expect((await docker.listVolumes({ filters })).Volumes ?? []).toEqual([]);
  const runDir = /demo data in (\S+)\)/.exec(out)?.[1];
  expect(runDir).toMatch(/\.tmp\/demo\/run-/);
  expect(existsSync(runDir!)).toBe(false);
}, 320_000);

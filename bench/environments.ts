/**
 * Environment lifecycle figures on the real Docker engine with stand-in
 * Jenkins containers: deploy (create → healthy by Docker's health check)
 * beside the first 200 from /login in the same run; state.migrate of N jobs
 * beside a raw unfiltered getArchive → putArchive of the same home; backup
 * create and verified restore; the six validation checks. Asserts nothing.
 *
 *   npm run build && node build/bench/environments.js [jobs]
 */
import { join } from 'node:path';
import { createBackup, readVerifiedBackup } from '../agent/src/backup/backups';
import { teamJenkinsClientFactory } from '../agent/src/environments/controllers';
import { deployEnvironment, type EnvironmentDeps } from '../agent/src/environments/deploy';
import { migrateState } from '../agent/src/environments/migrate';
import { validateEnvironment } from '../agent/src/environments/validate';
import { seedServiceUser, standinControl } from '../test/support/docker-teams';
import { ensureStandinImage, standinImageNames } from '../test/support/standin-image';
import { runDockerBench } from './_docker-bench';

const JOBS = Math.max(1, Math.min(2_000, Number(process.argv[2] ?? 200)));
const since = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

async function firstLogin(url: string, limitMs: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < limitMs / 20; i++) {
    const ok = await fetch(`${url}/login`, { signal: AbortSignal.timeout(500) }).then((r) => r.status === 200, () => false);
    if (ok) return since(t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  return NaN;
}

runDockerBench({ dirPrefix: 'jsm-bench-env-', instanceId: 'bench-environments', teamPrefix: 'bench' }, async ({ docker, dir, store, t, rows }) => {
  let t0 = process.hrtime.bigint();
  await ensureStandinImage(docker);
  const imageMs = since(t0);
  const jenkinsFor = teamJenkinsClientFactory();
  const deps: EnvironmentDeps = { docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } };

  t0 = process.hrtime.bigint();
  const blue = await deployEnvironment(deps, t.team, { target: 'blue', timeoutSec: 60, replace: true });
  const deployMs = since(t0);
  // Baseline in the same run: a green container started by hand, timed to its first /login 200.
  t0 = process.hrtime.bigint();
  const raw = await docker.createContainer({ name: `${t.team.environments.green.container}-raw`, Image: standinImageNames().v1, Env: [`JENKINS_OPTS=--httpPort=${t.team.environments.green.web_port}`], HostConfig: { NetworkMode: 'host' } });
  await raw.start();
  const rawMs = since(t0) + (await firstLogin(t.team.environments.green.url, 30_000));
  await raw.remove({ force: true });
  rows.push({ metric: 'deploy → healthy (Docker health check, 1 s interval)', ours: deployMs, baseline: rawMs, unit: 'ms (baseline: docker run → first /login 200)' });
  console.log(`deploy blue: ${deployMs.toFixed(0)} ms (healthy after ${blue.healthyAfterMs} ms of waiting); raw start → /login: ${rawMs.toFixed(0)} ms`);

  await deployEnvironment(deps, t.team, { target: 'green', timeoutSec: 60, replace: true });
  await seedServiceUser(t, 'blue');
  await seedServiceUser(t, 'green');
  const client = jenkinsFor(t.team, 'blue');
  t0 = process.hrtime.bigint();
  for (let i = 0; i < JOBS; i++) await client.createJob(`job-${i}`, `<flow-definition><description>bench ${i}</description></flow-definition>`);
  console.log(`created ${JOBS} jobs on blue in ${since(t0).toFixed(0)} ms`);

  t0 = process.hrtime.bigint();
  const phases: string[] = [];
  const ctx = { operation: { id: 'bench' }, actor: { tokenId: 'bench', instanceId: 'bench' }, signal: new AbortController().signal, progress: (e: { phase: string }) => phases.push(`${e.phase}@${since(t0).toFixed(0)}`) } as never;
  const m = await migrateState({ docker, jenkinsFor }, t.team, { source: 'blue', target: 'green', timeoutSec: 60, pollMs: 200 }, ctx);
  console.log(`migrate phases (ms since start): ${phases.join(' ')}`);
  const migrateMs = since(t0);
  await jenkinsFor(t.team, 'blue').cancelQuietDown();
  t0 = process.hrtime.bigint();
  const src = await docker.getContainer(t.team.environments.blue.container).getArchive({ path: '/var/jenkins_home' });
  await docker.getContainer(t.team.environments.green.container).putArchive(src, { path: '/var' });
  const rawCopyMs = since(t0);
  rows.push({ metric: `state.migrate, ${JOBS} jobs (quiet down, drain, filtered copy, reload, verify)`, ours: migrateMs, baseline: rawCopyMs, unit: 'ms (baseline: unfiltered archive copy only)' });
  console.log(`migrate: ${migrateMs.toFixed(0)} ms, ${m.files} files, ${m.bytes} bytes; raw copy ${rawCopyMs.toFixed(0)} ms`);

  const root = join(dir, 'backups');
  t0 = process.hrtime.bigint();
  const b = await createBackup({ docker, environments: store.environments, root }, t.team, { environment: 'blue' });
  const backupMs = since(t0);
  t0 = process.hrtime.bigint();
  await readVerifiedBackup(root, t.team, b.backupId);
  const verifyMs = since(t0);
  rows.push({ metric: `backup.create (${b.files} files, ${b.archiveBytes} B)`, ours: backupMs, baseline: null, unit: 'ms' });
  rows.push({ metric: 'backup integrity check (archive sha256 + every file)', ours: verifyMs, baseline: null, unit: 'ms' });

  await standinControl(t.team, 'green', { agents: [] });
  t0 = process.hrtime.bigint();
  const v = await validateEnvironment({ docker, jenkinsFor }, t.team, { environment: 'green', source: 'blue' });
  rows.push({ metric: `environment.validate, six checks (passed=${v.passed})`, ours: since(t0), baseline: null, unit: 'ms' });
  rows.push({ metric: 'stand-in image ensure (warm: hash check only)', ours: imageMs, baseline: null, unit: 'ms' });
});

/**
 * state.migrate on a large home (default 2,000 jobs × 20 builds with 50 KB
 * logs, about 2 GB) between two stand-in controllers on the real Docker engine:
 * the whole migration, the quiet-down window (quiet-down → target reloaded,
 * the time builds cannot start) and the bytes of the final delta, beside a
 * plain full archive copy of the same home in the same run (what a one-pass
 * migration has to do inside its window). Then the same with 10 and 1,000 new
 * builds written on the source while the pre-copy runs, to show how the
 * window grows with the delta. Asserts nothing; removes its containers,
 * volumes and temp dirs.
 *
 *   npm run build && node build/bench/migrate-precopy.js [jobs] [builds] [logKB]
 */
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { teamJenkinsClientFactory } from '../agent/src/environments/controllers';
import type { EnvironmentDeps } from '../agent/src/environments/deploy';
import { listHome, migrateState, type MigrateResult } from '../agent/src/environments/migrate';
import { selectForMigration } from '../agent/src/jenkins/home-layout';
import { deployBothWithServiceUser } from '../test/support/docker-teams';
import { ensureStandinImage } from '../test/support/standin-image';
import { runDockerBench } from './_docker-bench';

const JOBS = Math.max(1, Math.min(5_000, Number(process.argv[2] ?? 2_000)));
const BUILDS = Math.max(1, Math.min(100, Number(process.argv[3] ?? 20)));
const LOG_KB = Math.max(1, Math.min(1_024, Number(process.argv[4] ?? 50)));
const since = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const PIPELINE = "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job\"><definition/></flow-definition>\n";

/** Writes tar entries one after the other, waiting for each (a 2 GB home never sits in memory). */
async function writeHome(docker: Docker, container: string, fill: (add: (name: string, body: Buffer | string) => Promise<void>) => Promise<void>): Promise<void> {
  const pack = tarPack();
  const upload = docker.getContainer(container).putArchive(pack as unknown as Readable, { path: '/var/jenkins_home' });
  const add = (name: string, body: Buffer | string): Promise<void> => new Promise((resolve, reject) => pack.entry({ name }, body, (err) => (err ? reject(err) : resolve())));
  await fill(add);
  pack.finalize();
  await upload;
}

const LOG = Buffer.alloc(LOG_KB * 1024, 'Started by timer\n[Pipeline] echo\nstep output\n');
const buildXml = (n: number): string => `<?xml version='1.1' encoding='UTF-8'?>\n<flow-build><number>${n}</number><result>SUCCESS</result></flow-build>\n`;

runDockerBench({ dirPrefix: 'jsm-bench-precopy-', instanceId: 'bench-precopy', teamPrefix: 'bpc' }, async ({ docker, dir, store, t, rows }) => {
  await ensureStandinImage(docker);
  const jenkinsFor = teamJenkinsClientFactory();
  const envDeps: EnvironmentDeps = { docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } };
  await deployBothWithServiceUser(envDeps, t);
  const blueC = t.team.environments.blue.container;
  const greenC = t.team.environments.green.container;

  let t0 = process.hrtime.bigint();
  await writeHome(docker, blueC, async (add) => {
    for (let j = 0; j < JOBS; j++) {
      await add(`jobs/job-${j}/config.xml`, PIPELINE);
      await add(`jobs/job-${j}/nextBuildNumber`, `${BUILDS + 1}\n`);
      for (let b = 1; b <= BUILDS; b++) {
        await add(`jobs/job-${j}/builds/${b}/build.xml`, buildXml(b));
        await add(`jobs/job-${j}/builds/${b}/log`, LOG);
      }
    }
  });
  const homeBytes = JOBS * BUILDS * (LOG.length + 100);
  console.log(`built blue's home: ${JOBS} jobs × ${BUILDS} builds, ~${(homeBytes / 1e9).toFixed(2)} GB, in ${(since(t0) / 1000).toFixed(1)} s`);
  await jenkinsFor(t.team, 'blue').reload(); // the stand-in, like Jenkins, reads jobs written behind its back only on reload
  for (let i = 0; i < 600 && !(await jenkinsFor(t.team, 'blue').root().then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 100));

  // What the window's home listing costs alone (find in the source: the stand-in's is JavaScript, GNU find is C).
  t0 = process.hrtime.bigint();
  const listed = await listHome(docker, { id: blueC, name: blueC }, selectForMigration({}));
  const listMs = since(t0);
  console.log(`home listing (find in blue): ${listed.length} entries in ${(listMs / 1000).toFixed(1)} s`);
  rows.push({ metric: `home listing in the source alone (find, ${listed.length} entries; part of every window)`, ours: listMs / 1000, baseline: null, unit: 's' });

  // Baseline: one plain full copy of the same home, unfiltered, as a one-pass migration does inside its window.
  t0 = process.hrtime.bigint();
  await docker.getContainer(greenC).putArchive(await docker.getContainer(blueC).getArchive({ path: '/var/jenkins_home' }), { path: '/var' });
  const fullCopyMs = since(t0);
  console.log(`plain full copy blue → green: ${(fullCopyMs / 1000).toFixed(1)} s`);

  const snapshotDir = join(dir, 'snapshots');
  let runs = 0;
  const run = async (label: string, newBuilds: number): Promise<{ r: MigrateResult; ms: number }> => {
    let inject: Promise<void> = Promise.resolve();
    const lines: string[] = [];
    const deltaLines: string[] = [];
    const ctx = {
      operation: { id: `bench-${newBuilds}` },
      actor: { tokenId: 'bench', instanceId: 'bench' },
      signal: new AbortController().signal,
      progress: (e: { phase: string; message: string }) => {
        if (e.phase === 'precopy') lines.push(e.message);
        if (e.phase === 'delta' || e.phase === 'delta_listing') deltaLines.push(e.message);
        // New builds land on blue while the pre-copy streams: they are what the delta must carry.
        if (e.phase === 'copy' && newBuilds > 0) {
          inject = writeHome(docker, blueC, async (add) => {
            for (let i = 0; i < newBuilds; i++) {
              const job = `job-${i % JOBS}`;
              const n = BUILDS + 1 + Math.floor(i / JOBS) + runs * 1000;
              await add(`jobs/${job}/builds/${n}/build.xml`, buildXml(n));
              await add(`jobs/${job}/builds/${n}/log`, LOG);
              await add(`jobs/${job}/nextBuildNumber`, `${n + 1}\n`);
            }
          });
        }
      },
    } as never;
    // The injection must have landed before the delta lists blue; it is far shorter than the pre-copy. Awaited after the call too.
    const t1 = process.hrtime.bigint();
    const r = await migrateState({ docker, jenkinsFor, snapshotDir }, t.team, { source: 'blue', target: 'green', timeoutSec: 600, pollMs: 100 }, ctx);
    const ms = since(t1);
    await inject;
    await jenkinsFor(t.team, 'blue').cancelQuietDown();
    runs += 1;
    console.log(`${label}: total ${(ms / 1000).toFixed(1)} s; pre-copy ${r.precopy.sec} s (${(r.precopy.bytes / 1e6).toFixed(0)} MB, ${r.precopy.files} files); window ${r.windowSec} s; delta ${r.delta.files} files, ${r.delta.bytes} B in ${r.delta.sec} s`);
    if (lines.length) console.log(`  pre-copy progress (${lines.length} lines), last: ${lines[lines.length - 1]}`);
    for (const l of deltaLines) console.log(`  ${l}`);
    return { r, ms };
  };
  for (const [label, k] of [['no new builds', 0], ['10 new builds during the pre-copy', 10], ['1,000 new builds during the pre-copy', 1_000]] as const) {
    const { r, ms } = await run(label, k);
    rows.push({ metric: `state.migrate ~${(homeBytes / 1e9).toFixed(1)} GB home, ${label}: total`, ours: ms / 1000, baseline: fullCopyMs / 1000, unit: 's (baseline: plain full copy)' });
    rows.push({ metric: `  quiet-down window (quiet-down → target reloaded), ${label}`, ours: r.windowSec, baseline: fullCopyMs / 1000, unit: 's (baseline: plain full copy)' });
    rows.push({ metric: `  final delta, ${label}`, ours: r.delta.bytes, baseline: r.precopy.bytes, unit: 'bytes (baseline: pre-copy)' });
  }
});

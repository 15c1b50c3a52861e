/**
 * The sidecar's own work on a home listing inside the quiet-down window:
 * parsing `find -printf` output, applying the migration's selection and
 * planning the delta against the pre-copy's manifest, on a synthetic listing
 * shaped like bench/migrate-precopy.ts's home (default 2,000 jobs × 20 builds:
 * 128,016 entries), with nothing changed and with 1,000 new builds. Baseline
 * in the same run: splitting the same bytes on NUL (the floor of reading it).
 * Pure CPU, no Docker; asserts nothing.
 *
 *   npm run build && node build/bench/home-listing.js [jobs] [builds] [rounds]
 */
import { parseFindListing, planDelta, type ListedEntry } from '../agent/src/environments/home-delta';
import { selectForMigration } from '../agent/src/jenkins/home-layout';

const JOBS = Math.max(1, Math.min(20_000, Number(process.argv[2] ?? 2_000)));
const BUILDS = Math.max(1, Math.min(200, Number(process.argv[3] ?? 20)));
const ROUNDS = Math.max(1, Math.min(20, Number(process.argv[4] ?? 5)));
const MTIME = 1_700_000_000;

function listing(newBuilds: number): Buffer {
  const parts: string[] = [];
  const add = (y: string, size: number, mtime: number, p: string): void => void parts.push(`${y}\0${size}\0${mtime}.2500000\0${p}\0\0`);
  add('d', 4096, MTIME, 'jobs');
  for (let j = 0; j < JOBS; j++) {
    const job = `jobs/job-${j}`;
    add('d', 4096, MTIME, job);
    add('f', 120, MTIME, `${job}/config.xml`);
    add('f', 3, MTIME, `${job}/nextBuildNumber`);
    add('d', 4096, MTIME, `${job}/builds`);
    for (let b = 1; b <= BUILDS; b++) {
      add('d', 4096, MTIME, `${job}/builds/${b}`);
      add('f', 110, MTIME, `${job}/builds/${b}/build.xml`);
      add('f', 51_200, MTIME, `${job}/builds/${b}/log`);
    }
  }
  for (let i = 0; i < newBuilds; i++) {
    const n = BUILDS + 1 + Math.floor(i / JOBS);
    add('d', 4096, MTIME + 100, `jobs/job-${i % JOBS}/builds/${n}`);
    add('f', 110, MTIME + 100, `jobs/job-${i % JOBS}/builds/${n}/build.xml`);
    add('f', 51_200, MTIME + 100, `jobs/job-${i % JOBS}/builds/${n}/log`);
  }
  return Buffer.from(parts.join(''));
}

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function measure(label: string, manifest: Map<string, ListedEntry>, out: Buffer): void {
  const select = selectForMigration({});
  const floor: number[] = [];
  const parse: number[] = [];
  const sel: number[] = [];
  const plan: number[] = [];
  let entries = 0;
  let fetched = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let t0 = process.hrtime.bigint();
    entries = out.toString('utf8').split('\0').length;
    floor.push(ms(t0));
    t0 = process.hrtime.bigint();
    const listed = parseFindListing(out);
    parse.push(ms(t0));
    t0 = process.hrtime.bigint();
    const kept = listed.filter((e) => select(e.path, e.kind));
    sel.push(ms(t0));
    t0 = process.hrtime.bigint();
    fetched = planDelta(manifest, kept, MTIME + 50).fetch.length;
    plan.push(ms(t0));
  }
  const total = median(parse) + median(sel) + median(plan);
  console.log(`${label}: ${(entries - 1) / 5} entries, ${fetched} paths to fetch`);
  console.log(`  parse ${median(parse).toFixed(0)} ms, select ${median(sel).toFixed(0)} ms, plan ${median(plan).toFixed(0)} ms: ${total.toFixed(0)} ms (baseline: split on NUL ${median(floor).toFixed(0)} ms); median of ${ROUNDS}`);
}

const base = listing(0);
const manifest = new Map(parseFindListing(base).map((e) => [e.path, e]));
measure('nothing changed', manifest, base);
measure('1,000 new builds', manifest, listing(1_000));

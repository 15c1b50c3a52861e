#!/usr/bin/env node
// `npm run bench`: builds, then runs every bench/*.ts (compiled to build/bench/*.js)
// one after the other and prints one table. Each benchmark prints its own report
// and ends with one line `BENCH_JSON {"rows":[{metric, ours, baseline, unit}]}`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureAll } from './ensure-env.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await ensureAll();
const b = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
if (b.status !== 0) process.exit(b.status ?? 1);

const only = process.argv.slice(2);
const dir = join(root, 'build', 'bench');
const benches = existsSync(dir)
  ? readdirSync(dir).filter((f) => f.endsWith('.js') && !f.startsWith('_')).map((f) => f.replace(/\.js$/, ''))
  : [];
const rows = [];
let failed = 0;
for (const name of benches.sort()) {
  if (only.length && !only.includes(name)) continue;
  process.stderr.write(`\n== bench/${name}\n`);
  const r = spawnSync('node', [join(dir, `${name}.js`)], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 15 * 60_000 });
  process.stdout.write(r.stdout ?? '');
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (r.status !== 0 || !line) {
    failed++;
    rows.push({ bench: name, metric: 'FAILED', ours: '', baseline: '', unit: `exit ${r.status ?? r.signal}` });
    continue;
  }
  for (const row of JSON.parse(line.slice('BENCH_JSON '.length)).rows) rows.push({ bench: name, ...row });
}

const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : String(v ?? ''));
const cols = ['bench', 'metric', 'ours', 'baseline', 'unit'];
const table = rows.map((r) => cols.map((c) => fmt(r[c])));
const widths = cols.map((c, i) => Math.max(c.length, ...table.map((t) => t[i].length)));
const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log('\n' + line(cols));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const t of table) console.log(line(t));
process.exit(failed ? 1 : 0);

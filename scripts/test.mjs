#!/usr/bin/env node
// `npm test`: prepare the machine (scripts/ensure-env.mjs), build, lint, then
// run the unit and the integration projects. Extra arguments go to jest.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureAll } from './ensure-env.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const step = (name, cmd, args) => {
  process.stderr.write(`\n== ${name}: ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`== ${name} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
};

await ensureAll();
const jestArgs = process.argv.slice(2);
step('build', 'npm', ['run', 'build']);
step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
step('lint', 'npx', ['eslint', '.']);
// Two workers even on two cores: the integration tests mostly wait on real processes (windows,
// leases, health checks), so a second file in parallel halves the wall time without starving them.
const workers = jestArgs.some((a) => a.startsWith('--maxWorkers') || a === '-w' || a === '--runInBand' || a === '-i') ? [] : ['--maxWorkers=2'];
step('tests', 'npx', ['jest', '--ci', ...workers, ...jestArgs]);

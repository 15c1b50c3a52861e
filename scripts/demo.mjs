#!/usr/bin/env node
// `npm run demo [-- --exit] [-- --team NAME]`: makes the machine ready (npm deps;
// as root the missing apt packages and a Docker engine, saying so; otherwise the
// exact command to run), builds the project, then hands over to build/demo/run.js.
// Ctrl-C reaches the demo itself, which stops everything it started; this wrapper
// only waits for it and passes its exit code on.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDocker, ensureNpmDeps, ensureTools } from './ensure-env.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (m) => process.stdout.write(`[demo] ${m}\n`);

// What the demo drives for real: haproxy, the Docker engine, Groovy 2.4 (the pipeline
// harness) and ansible-playbook (the generated deploy stage runs the shipped playbook).
const DEMO_TOOLS = [
  { bin: 'haproxy', pkgs: ['haproxy'] },
  { bin: 'dockerd', pkgs: ['docker.io'] },
  { bin: 'groovy', pkgs: ['groovy', 'default-jre-headless'] },
  { bin: 'ansible-playbook', pkgs: ['ansible-core'] },
];

say('checking the machine: npm dependencies, haproxy, Docker engine, Groovy, ansible-playbook');
ensureNpmDeps();
ensureTools(DEMO_TOOLS);
await ensureDocker();

// Rebuilding rewrites build/ in place, under any jenkins-sidecar another test on this
// machine is starting from it at that moment: build only when something is out of date.
const stale = staleBuildOutput();
if (stale) {
  say(`building (npm run build): ${stale}`);
  // Two demos starting at once (the test suite runs two) must not run tsc over build/ together.
  const lock = ['flock', join(tmpdir(), 'jsm-demo-build.lock')];
  const hasFlock = spawnSync('sh', ['-c', 'command -v flock'], { stdio: 'ignore' }).status === 0;
  const cmd = [...(hasFlock ? lock : []), 'npm', 'run', '--silent', 'build'];
  const build = spawnSync(cmd[0], cmd.slice(1), { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) {
    say(`npm run build failed (exit ${build.status}); fix the build first`);
    process.exit(build.status ?? 1);
  }
} else {
  say('build/ is newer than every source file: not rebuilding');
}

const child = spawn(process.execPath, [join(root, 'build', 'demo', 'run.js'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
// The terminal's Ctrl-C reaches the demo directly (same process group); it shuts down in order.
const ignore = () => undefined;
process.on('SIGINT', ignore);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

/** Why build/ is out of date (a source newer than its output, or an output missing), or null. */
function staleBuildOutput() {
  // tsconfig.build.json's folders (copy-assets copies their non-.ts files), and the test
  // support modules the bench and demo import (compiled when imported).
  const dirs = ['agent/src', 'catalog', 'library-gen/src', 'bench', 'demo', 'test/support'];
  for (const d of dirs) {
    const abs = join(root, d);
    if (!existsSync(abs)) continue;
    for (const file of walk(abs)) {
      const rel = relative(root, file);
      if (rel.startsWith('demo/') && !rel.endsWith('.ts')) continue; // demo/RunPipeline.groovy runs from the source tree
      const isTs = rel.endsWith('.ts') && !rel.endsWith('.d.ts');
      const out = join(root, 'build', isTs ? rel.replace(/\.ts$/, '.js') : rel);
      if (!existsSync(out)) {
        if (rel.startsWith('test/support/') || (!isTs && (rel.startsWith('bench/') || rel.endsWith('.md')))) continue; // not part of the build
        return `${relative(root, out)} is missing`;
      }
      if (statSync(out).mtimeMs < statSync(file).mtimeMs) return `${rel} changed since the last build`;
    }
  }
  return null;
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else yield p;
  }
}

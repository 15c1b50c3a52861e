#!/usr/bin/env node
// `npm run demo [-- --exit] [-- --team NAME]`: makes the machine ready (npm deps;
// as root the missing apt packages and a Docker engine, saying so; otherwise the
// exact command to run), builds the project, then hands over to build/demo/run.js.
// Ctrl-C reaches the demo itself, which stops everything it started; this wrapper
// only waits for it and passes its exit code on.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
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

say('building (npm run build)');
const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  say(`npm run build failed (exit ${build.status}); fix the build first`);
  process.exit(build.status ?? 1);
}

const child = spawn(process.execPath, [join(root, 'build', 'demo', 'run.js'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
// The terminal's Ctrl-C reaches the demo directly (same process group); it shuts down in order.
const ignore = () => undefined;
process.on('SIGINT', ignore);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

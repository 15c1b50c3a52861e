#!/usr/bin/env node
// Makes this machine able to run the tests or the demo: npm deps, the system
// tools the integration tests drive for real (haproxy, Docker, Groovy, promtool),
// and a running Docker engine. As root it installs what is missing and says so;
// otherwise it prints the exact command and exits non-zero.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const isRoot = process.getuid?.() === 0;
const say = (m) => process.stderr.write(`[ensure-env] ${m}\n`);

// tool on PATH -> Debian package(s) that provide it (with --no-install-recommends where large)
const TOOLS = [
  { bin: 'haproxy', pkgs: ['haproxy'] },
  { bin: 'dockerd', pkgs: ['docker.io'] },
  { bin: 'groovy', pkgs: ['groovy', 'default-jre-headless'] },
  { bin: 'promtool', pkgs: ['prometheus'], noRecommends: true },
  { bin: 'ip', pkgs: ['iproute2'] },
  { bin: 'iptables', pkgs: ['iptables'] },
  { bin: 'systemd-analyze', pkgs: ['systemd'] },
  // The systemd-notify test receives the sidecar's datagrams with a few lines of python3.
  { bin: 'python3', pkgs: ['python3'] },
  { bin: 'chromium', pkgs: ['chromium'] },
  // executeAnsiblePlaybook runs the real ansible-playbook in the Groovy harness tests.
  { bin: 'ansible-playbook', pkgs: ['ansible-core'], noRecommends: true },
  // The TLS proxy test makes a throwaway self-signed certificate with openssl.
  { bin: 'openssl', pkgs: ['openssl'] },
  // Failover tests run a primary with streaming standbys: the embedded npm binaries have no
  // pg_basebackup, so Debian's server binaries (not on PATH: under /usr/lib/postgresql/N/bin).
  { bin: 'pg_basebackup (server binaries under /usr/lib/postgresql)', probe: hasPgServerBinaries, pkgs: ['postgresql'] },
  // The Patroni failover test: two Patroni members on one etcd, on loopback.
  { bin: 'patroni', pkgs: ['patroni'] },
  { bin: 'etcd', pkgs: ['etcd-server'] },
];

function hasPgServerBinaries() {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return false;
  return readdirSync(base).some((v) => ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'].every((t) => existsSync(join(base, v, 'bin', t))));
}

function has(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

export function ensureNpmDeps() {
  if (existsSync(join(root, 'node_modules', '.package-lock.json'))) return;
  say('node_modules missing: running npm ci');
  execFileSync('npm', ['ci'], { cwd: root, stdio: 'inherit' });
}

export function ensureTools(tools = TOOLS) {
  const missing = tools.filter((t) => !(t.probe ? t.probe() : has(t.bin)));
  if (missing.length === 0) return;
  const plain = missing.filter((t) => !t.noRecommends).flatMap((t) => t.pkgs);
  const slim = missing.filter((t) => t.noRecommends).flatMap((t) => t.pkgs);
  const cmds = [];
  if (plain.length) cmds.push(['apt-get', 'install', '-y', '-qq', ...plain]);
  if (slim.length) cmds.push(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...slim]);
  if (!isRoot) {
    say(`missing tools: ${missing.map((t) => t.bin).join(', ')}. Install them with:`);
    say(`  sudo apt-get update && ${cmds.map((c) => 'sudo ' + c.join(' ')).join(' && ')}`);
    process.exit(1);
  }
  say(`installing missing tools (${missing.map((t) => t.bin).join(', ')}): ${[...plain, ...slim].join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  for (const c of cmds) execFileSync(c[0], c.slice(1), { stdio: 'inherit', env });
}

function dockerAnswers() {
  return spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

export async function ensureDocker() {
  if (dockerAnswers()) return;
  if (!isRoot) {
    say('no Docker engine answers. Start one (as root), e.g.:');
    say('  dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false &');
    process.exit(1);
  }
  const logDir = join(root, '.tmp');
  mkdirSync(logDir, { recursive: true });
  const log = openSync(join(logDir, 'dockerd.log'), 'a');
  say(`no Docker engine answered: starting dockerd (host/none networks only; log in .tmp/dockerd.log)`);
  const child = spawn('dockerd', ['--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false'], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (dockerAnswers()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  say('dockerd did not answer within 30 s; see .tmp/dockerd.log');
  process.exit(1);
}

export async function ensureAll() {
  ensureNpmDeps();
  ensureTools();
  await ensureDocker();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await ensureAll();
  say('environment ready');
}

import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, realpathSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';

/**
 * Builds the stand-in Jenkins image (test/fixtures/standin-jenkins) with
 * `docker import`: a rootfs holding /usr/bin/node, the libraries `ldd` lists,
 * the loader and the server. Tags 1 and 2 of one name differ only in the
 * version they report in X-Jenkins. Idempotent (a content hash label decides
 * whether to rebuild) and safe when several test files ask at once (a lock
 * file). Importable outside jest: the demo and the Groovy harness use it too.
 */
export const STANDIN_IMAGE = 'jsm-standin-jenkins';
export const STANDIN_VERSIONS: Record<'1' | '2', string> = { '1': '2.440.1', '2': '2.452.2' };
const HASH_LABEL = 'io.jsm.standin.hash';
// From test/support (ts-jest) or build/test/support (compiled; copy-assets does not copy test fixtures).
const FIXTURE_DIR = [resolve(__dirname, '..', 'fixtures', 'standin-jenkins'), resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'standin-jenkins')].find((d) =>
  existsSync(join(d, 'server.js')),
) ?? resolve(__dirname, '..', 'fixtures', 'standin-jenkins');
const LOCK_FILE = join(tmpdir(), 'jsm-standin-image.lock');
const LOCK_STALE_MS = 180_000;

function nodeRuntimeFiles(): string[] {
  const node = realpathSync(process.execPath);
  const out = execFileSync('ldd', [node], { encoding: 'utf8' });
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.add(m[1]);
  }
  return [...libs];
}

function fixtureFiles(dir = FIXTURE_DIR, prefix = ''): Array<{ rel: string; abs: string }> {
  const out: Array<{ rel: string; abs: string }> = [];
  for (const name of readdirSync(dir).sort()) {
    const abs = join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(abs).isDirectory()) out.push(...fixtureFiles(abs, rel));
    else out.push({ rel, abs });
  }
  return out;
}

function contentHash(): string {
  const h = createHash('sha256');
  for (const f of fixtureFiles()) h.update(f.rel).update(readFileSync(f.abs));
  h.update(realpathSync(process.execPath)).update(String(statSync(realpathSync(process.execPath)).size));
  return h.digest('hex').slice(0, 16);
}

async function importImage(tag: string, version: string, hash: string, healthcheck = true): Promise<void> {
  const pack = tarPack();
  const dirs = new Set<string>();
  const addDir = (p: string): void => {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        pack.entry({ name: `${d}/`, type: 'directory', mode: 0o755 });
      }
    }
  };
  const addFile = (target: string, source: string, mode: number): void => {
    const rel = target.replace(/^\/+/, '');
    addDir(rel.split('/').slice(0, -1).join('/'));
    pack.entry({ name: rel, mode }, readFileSync(source));
  };
  addDir('tmp');
  addDir('var/jenkins_home');
  addFile('/usr/bin/node', realpathSync(process.execPath), 0o755);
  for (const lib of nodeRuntimeFiles()) addFile(lib, realpathSync(lib), 0o755);
  for (const f of fixtureFiles()) {
    if (f.rel.startsWith('ref/')) addFile(`/usr/share/jenkins/${f.rel}`, f.abs, 0o644);
    else addFile(`/app/${f.rel}`, f.abs, 0o644);
  }
  pack.finalize();
  const changes = [
    'CMD ["/usr/bin/node","/app/server.js"]',
    ...(healthcheck ? ['HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD ["/usr/bin/node","/app/healthcheck.js"]'] : []),
    `ENV JENKINS_VERSION=${version}`,
    'ENV JENKINS_HOME=/var/jenkins_home',
    `LABEL ${HASH_LABEL}=${hash}`,
  ];
  const args = ['import', ...changes.flatMap((c) => ['--change', c]), '-', `${STANDIN_IMAGE}:${tag}`];
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn('docker', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`docker import ${tag} failed (${code}): ${stderr.trim()}`))));
    pack.pipe(child.stdin);
  });
}

async function currentHash(docker: Docker, tag: string): Promise<string | null> {
  try {
    const info = await docker.getImage(`${STANDIN_IMAGE}:${tag}`).inspect();
    return info.Config?.Labels?.[HASH_LABEL] ?? null;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** O_EXCL lock file holding the owner's pid; a dead owner's or a very old lock is taken over. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_STALE_MS;
  for (;;) {
    try {
      const fd = openSync(LOCK_FILE, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let stale = false;
      try {
        const owner = Number(readFileSync(LOCK_FILE, 'utf8'));
        stale = (owner > 0 && !pidAlive(owner)) || Date.now() - statSync(LOCK_FILE).mtimeMs > LOCK_STALE_MS;
      } catch {}
      if (stale) {
        try {
          unlinkSync(LOCK_FILE);
        } catch {}
        continue;
      }
      if (Date.now() > deadline) throw new Error(`waited too long for ${LOCK_FILE}; remove it if no build is running`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(LOCK_FILE);
    } catch {}
  }
}

/** Makes sure jsm-standin-jenkins:1 and :2 exist and match the fixture. Returns the image names. */
export async function ensureStandinImage(docker: Docker = new Docker()): Promise<{ v1: string; v2: string }> {
  const hash = contentHash();
  const names = { v1: `${STANDIN_IMAGE}:1`, v2: `${STANDIN_IMAGE}:2` };
  const upToDate = async (): Promise<boolean> => (await currentHash(docker, '1')) === hash && (await currentHash(docker, '2')) === hash;
  if (await upToDate()) return names;
  await withLock(async () => {
    if (await upToDate()) return;
    for (const tag of ['1', '2'] as const) {
      if ((await currentHash(docker, tag)) !== hash) await importImage(tag, STANDIN_VERSIONS[tag], hash);
    }
  });
  return names;
}

/** jsm-standin-jenkins:nohc: the same server without a Docker HEALTHCHECK (readiness then comes from the HTTP probe). */
export async function ensureStandinImageWithoutHealthcheck(docker: Docker = new Docker()): Promise<string> {
  const hash = contentHash();
  if ((await currentHash(docker, 'nohc')) !== hash) {
    await withLock(async () => {
      if ((await currentHash(docker, 'nohc')) !== hash) await importImage('nohc', STANDIN_VERSIONS['1'], hash, false);
    });
  }
  return `${STANDIN_IMAGE}:nohc`;
}

export const standinFixtureDir = (): string => FIXTURE_DIR;
export const standinFixtureExists = (): boolean => existsSync(join(FIXTURE_DIR, 'server.js'));

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { dockerImport, imageLabel, nodeRuntimeLibraries, withFileLock } from './image-import';

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

async function importImage(tag: string, version: string, hash: string, healthcheck = true, dockerHost?: string): Promise<void> {
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
  for (const lib of nodeRuntimeLibraries()) addFile(lib, realpathSync(lib), 0o755);
  for (const f of fixtureFiles()) {
    if (f.rel.startsWith('ref/')) addFile(`/usr/share/jenkins/${f.rel}`, f.abs, 0o644);
    else if (f.rel === 'rm.js') addFile('/usr/bin/rm', f.abs, 0o755); // real Jenkins images have rm; a failed state.migrate removes what its copy added with it
    else if (f.rel === 'find.js') addFile('/usr/bin/find', f.abs, 0o755); // and GNU find: state.migrate lists the home's sizes and mtimes with it
    else if (f.rel === 'tar.js') addFile('/usr/bin/tar', f.abs, 0o755); // and GNU tar: state.migrate reads the delta with it
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
  await dockerImport(pack, `${STANDIN_IMAGE}:${tag}`, changes, dockerHost);
}

export interface StandinImageOptions {
  /**
   * Another engine than the default one (a test's private dockerd), e.g.
   * `unix:///tmp/jd-x/d.sock`; `docker` must be a client of that same engine.
   */
  dockerHost?: string;
  /** Which tags to make sure of (default both); a private engine often needs only :1. */
  tags?: Array<'1' | '2'>;
}

/** The build lock is per engine: two engines' imports do not wait for each other. */
const lockFileFor = (dockerHost?: string): string => (dockerHost ? join(tmpdir(), `jsm-standin-image-${createHash('sha256').update(dockerHost).digest('hex').slice(0, 12)}.lock`) : LOCK_FILE);

/** Makes sure jsm-standin-jenkins:1 and :2 (or `opts.tags`) exist and match the fixture. Returns the image names. */
export async function ensureStandinImage(docker: Docker = new Docker(), opts: StandinImageOptions = {}): Promise<{ v1: string; v2: string }> {
  const hash = contentHash();
  const names = { v1: `${STANDIN_IMAGE}:1`, v2: `${STANDIN_IMAGE}:2` };
  const tags = opts.tags ?? (['1', '2'] as const);
  const upToDate = async (): Promise<boolean> => {
    for (const tag of tags) if ((await imageLabel(docker, `${STANDIN_IMAGE}:${tag}`, HASH_LABEL)) !== hash) return false;
    return true;
  };
  if (await upToDate()) return names;
  await withFileLock(lockFileFor(opts.dockerHost), LOCK_STALE_MS, async () => {
    if (await upToDate()) return;
    for (const tag of tags) {
      if ((await imageLabel(docker, `${STANDIN_IMAGE}:${tag}`, HASH_LABEL)) !== hash) await importImage(tag, STANDIN_VERSIONS[tag], hash, true, opts.dockerHost);
    }
  });
  return names;
}

/** jsm-standin-jenkins:nohc: the same server without a Docker HEALTHCHECK (readiness then comes from the HTTP probe). */
export async function ensureStandinImageWithoutHealthcheck(docker: Docker = new Docker()): Promise<string> {
  const hash = contentHash();
  if ((await imageLabel(docker, `${STANDIN_IMAGE}:${'nohc'}`, HASH_LABEL)) !== hash) {
    await withFileLock(LOCK_FILE, LOCK_STALE_MS, async () => {
      if ((await imageLabel(docker, `${STANDIN_IMAGE}:${'nohc'}`, HASH_LABEL)) !== hash) await importImage('nohc', STANDIN_VERSIONS['1'], hash, false);
    });
  }
  return `${STANDIN_IMAGE}:nohc`;
}

export const standinFixtureDir = (): string => FIXTURE_DIR;
export const standinFixtureExists = (): boolean => existsSync(join(FIXTURE_DIR, 'server.js'));

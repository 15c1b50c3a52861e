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
 * the loader and the server. Versions 1 and 2 differ only in the version they
 * report in X-Jenkins. Each tag carries a hash of every file that goes into the
 * image (`1-<hash>`), so checkouts with different fixtures sharing one engine
 * never overwrite each other's image, and an unchanged fixture is never
 * rebuilt. Everything that runs the image takes its name from
 * standinImageNames(). Safe when several test files ask at once (a lock file).
 * Importable outside jest: the demo and the Groovy harness use it too.
 */
export const STANDIN_IMAGE = 'jsm-standin-jenkins';
export const STANDIN_VERSIONS: Record<'1' | '2', string> = { '1': '2.440.1', '2': '2.452.2' };
const HASH_LABEL = 'io.jsm.standin.hash';
/** Bump when importImage() lays the files out differently: the tag must change with the image. */
const IMAGE_LAYOUT_VERSION = 'layout-1';
// From test/support (ts-jest) or build/test/support (compiled; copy-assets does not copy test fixtures).
const FIXTURE_DIR = [resolve(__dirname, '..', 'fixtures', 'standin-jenkins'), resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'standin-jenkins')].find((d) =>
  existsSync(join(d, 'server.js')),
) ?? resolve(__dirname, '..', 'fixtures', 'standin-jenkins');
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

let memoHash: string | undefined;
/** Of the fixture's files and this machine's node binary (path and size); this file's own layout is covered by its version. */
function contentHash(): string {
  if (memoHash) return memoHash;
  const h = createHash('sha256').update(IMAGE_LAYOUT_VERSION);
  for (const f of fixtureFiles()) h.update(f.rel).update(readFileSync(f.abs));
  h.update(realpathSync(process.execPath)).update(String(statSync(realpathSync(process.execPath)).size));
  for (const lib of nodeRuntimeLibraries()) h.update(lib);
  memoHash = h.digest('hex').slice(0, 16);
  return memoHash;
}

type StandinTag = '1' | '2' | 'nohc';
const tagOf = (tag: StandinTag): string => `${tag}-${contentHash()}`;

/** The stand-in's image names for this checkout's fixture: every test, the demo and the benches use these. */
export function standinImageNames(): { v1: string; v2: string; nohc: string } {
  return { v1: `${STANDIN_IMAGE}:${tagOf('1')}`, v2: `${STANDIN_IMAGE}:${tagOf('2')}`, nohc: `${STANDIN_IMAGE}:${tagOf('nohc')}` };
}

async function importImage(tag: StandinTag, version: string, hash: string, healthcheck = true, dockerHost?: string): Promise<void> {
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
  await dockerImport(pack, `${STANDIN_IMAGE}:${tagOf(tag)}`, changes, dockerHost);
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

/** The build lock is per engine and per fixture: two engines' or two fixtures' imports do not wait for each other. */
const lockFileFor = (dockerHost?: string): string => join(tmpdir(), `jsm-standin-image-${createHash('sha256').update(`${dockerHost ?? ''}\n${contentHash()}`).digest('hex').slice(0, 12)}.lock`);

/** A tag is present with this fixture's hash (the label guards against a hand-made tag of the same name). */
const present = async (docker: Docker, tag: StandinTag): Promise<boolean> => (await imageLabel(docker, `${STANDIN_IMAGE}:${tagOf(tag)}`, HASH_LABEL)) === contentHash();

async function ensureTags(docker: Docker, tags: readonly StandinTag[], dockerHost?: string): Promise<void> {
  const missing = async (): Promise<StandinTag[]> => (await Promise.all(tags.map(async (t) => ((await present(docker, t)) ? null : t)))).filter((t): t is StandinTag => t !== null);
  if ((await missing()).length === 0) return;
  await withFileLock(lockFileFor(dockerHost), LOCK_STALE_MS, async () => {
    for (const tag of await missing()) await importImage(tag, STANDIN_VERSIONS[tag === 'nohc' ? '1' : tag], contentHash(), tag !== 'nohc', dockerHost);
  });
}

/** Makes sure the stand-in's version 1 and 2 images (or `opts.tags`) of this fixture exist. Returns the image names. */
export async function ensureStandinImage(docker: Docker = new Docker(), opts: StandinImageOptions = {}): Promise<{ v1: string; v2: string }> {
  await ensureTags(docker, opts.tags ?? ['1', '2'], opts.dockerHost);
  const { v1, v2 } = standinImageNames();
  return { v1, v2 };
}

/** The same server without a Docker HEALTHCHECK (readiness then comes from the HTTP probe). */
export async function ensureStandinImageWithoutHealthcheck(docker: Docker = new Docker()): Promise<string> {
  await ensureTags(docker, ['nohc']);
  return standinImageNames().nohc;
}

export const standinFixtureDir = (): string => FIXTURE_DIR;
export const standinFixtureExists = (): boolean => existsSync(join(FIXTURE_DIR, 'server.js'));

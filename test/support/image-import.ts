import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, realpathSync, statSync, unlinkSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type Docker from 'dockerode';
import { pidAlive } from '../../agent/src/store/pid-alive';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Shared plumbing of the locally built test images (no registry is reachable):
 * a rootfs tar piped into `docker import`, a content-hash label to rebuild only
 * when the fixture changed, and a lock file so parallel test files build once.
 */

/** The shared libraries `ldd` lists for this machine's node binary (the images run it). */
export function nodeRuntimeLibraries(): string[] {
  const out = execFileSync('ldd', [realpathSync(process.execPath)], { encoding: 'utf8' });
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.add(m[1]);
  }
  return [...libs].sort();
}

/**
 * `docker import` of a tar stream with Dockerfile-style `--change` lines.
 * `dockerHost` (e.g. `unix:///tmp/jd-x/d.sock`) imports into another engine
 * than the default one (a test's private dockerd).
 */
export function dockerImport(tar: { pipe(dest: Writable): unknown }, ref: string, changes: string[], dockerHost?: string): Promise<void> {
  const args = ['import', ...changes.flatMap((c) => ['--change', c]), '-', ref];
  return new Promise<void>((resolve, reject) => {
    const env = dockerHost ? { ...process.env, DOCKER_HOST: dockerHost } : process.env;
    const child = spawn('docker', args, { stdio: ['pipe', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker import ${ref} failed (${code}): ${stderr.trim()}`))));
    tar.pipe(child.stdin);
  });
}

/** A label of a local image, or null when the image (or label) is absent. */
export async function imageLabel(docker: Docker, ref: string, label: string): Promise<string | null> {
  try {
    return (await docker.getImage(ref).inspect()).Config?.Labels?.[label] ?? null;
  } catch {
    return null;
  }
}


/** O_EXCL lock file holding the owner's pid; a dead owner's or an older-than-staleMs lock is taken over. */
export async function withFileLock<T>(lockFile: string, staleMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + staleMs;
  for (;;) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let stale = false;
      try {
        const owner = Number(readFileSync(lockFile, 'utf8'));
        stale = (owner > 0 && !pidAlive(owner)) || Date.now() - statSync(lockFile).mtimeMs > staleMs;
      } catch {}
      if (stale) {
        try {
          unlinkSync(lockFile);
        } catch {}
        continue;
      }
      if (Date.now() > deadline) throw new Error(`waited ${Math.round(staleMs / 1000)} s for ${lockFile}; remove it if no image build is running`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(lockFile);
    } catch {}
  }
}

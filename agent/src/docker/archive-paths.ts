import { PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { selectedEntries, writeEntry, type ArchiveFile, type EntrySelector } from './archive';
import { sleep } from '../sleep';

/** Paths per `tar` run: far below Linux's argument limit (ARG_MAX, 2 MiB with the default stack). */
const ARGV_BYTES = 96 * 1024;

function batches(paths: readonly string[]): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let size = 0;
  for (const p of paths) {
    if (cur.length && size + p.length + 1 > ARGV_BYTES) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(p);
    size += p.length + 1;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** `tar -c` of exactly `paths` (relative to `root`) in the container, its stdout as a stream; rejects `done` on a non-zero exit. */
async function tarInContainer(docker: Docker, containerId: string, root: string, paths: string[]): Promise<{ stdout: Readable; done: Promise<void> }> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: ['tar', '-c', '-f', '-', '-C', root, '--no-recursion', '--', ...paths], User: '0', AttachStdout: true, AttachStderr: true });
  const raw = (await exec.start({ hijack: true, stdin: false })) as NodeJS.ReadableStream;
  const stdout = new PassThrough();
  const stderr: Buffer[] = [];
  const errSink = new PassThrough().on('data', (c: Buffer) => stderr.push(c));
  docker.modem.demuxStream(raw, stdout, errSink);
  const ended = new Promise<void>((resolve, reject) => {
    raw.on('end', resolve);
    raw.on('close', resolve);
    raw.on('error', reject);
  });
  const done = ended.then(async () => {
    stdout.end();
    for (let i = 0; i < 50; i++) {
      const info = await exec.inspect();
      if (!info.Running) {
        if (info.ExitCode !== 0) throw new Error(`tar in ${containerId.slice(0, 12)} exited with ${info.ExitCode}: ${Buffer.concat(stderr).toString('utf8').trim().slice(0, 500)}`);
        return;
      }
      await sleep(100);
    }
    throw new Error('tar still running after its output ended');
  });
  done.catch(() => undefined); // awaited by the caller after the entries are read
  return { stdout, done };
}

/**
 * One tar stream holding exactly `paths` of a container's directory (each
 * entry named, parents before children, as `find` lists them), read by `tar`
 * inside the container in a few runs and named relative to that directory,
 * so one PUT /archive writes them all. Cost grows with what is read, not with
 * the directory: this is how a pre-copied migration carries its delta.
 */
export function packPaths(docker: Docker, containerId: string, root: string, paths: readonly string[], select: EntrySelector): { stream: Readable; files: Promise<ArchiveFile[]> } {
  const out = tarPack();
  const files: ArchiveFile[] = [];
  const run = async (): Promise<ArchiveFile[]> => {
    for (const batch of batches(paths)) {
      const { stdout, done } = await tarInContainer(docker, containerId, root, batch);
      for await (const { entry, header, rel, kind } of selectedEntries(stdout, '', select)) await writeEntry(out, entry, header, rel, kind, files);
      await done;
    }
    out.finalize();
    return files;
  };
  const done = run().catch((err: unknown) => {
    out.destroy(err as Error);
    throw err;
  });
  done.catch(() => undefined); // a caller whose upload failed never awaits `files`
  return { stream: out as unknown as Readable, files: done };
}

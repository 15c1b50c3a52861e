import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import { selectedEntries, writeEntry, type ArchiveFile, type EntrySelector } from './archive';

/**
 * One tar stream holding a few paths of a container's directory, each read
 * with its own GET /archive (a changed file, a new build directory) and named
 * relative to that directory, so one PUT /archive writes them all. Cost grows
 * with what is read, not with the directory: this is how a pre-copied
 * migration carries its delta.
 */
export function packPaths(docker: Docker, containerId: string, root: string, paths: readonly string[], select: EntrySelector): { stream: Readable; files: Promise<ArchiveFile[]> } {
  const out = tarPack();
  const files: ArchiveFile[] = [];
  const run = async (): Promise<ArchiveFile[]> => {
    for (const p of paths) {
      let input: NodeJS.ReadableStream;
      try {
        input = await docker.getContainer(containerId).getArchive({ path: `${root}/${p}` });
      } catch (err) {
        // Gone since the listing (the source is idle, but a user may still delete a job): nothing to carry.
        if ((err as { statusCode?: number }).statusCode === 404) continue;
        throw err;
      }
      // GET /archive names entries after the path's basename: put the parent in front again.
      const parent = posix.dirname(p) === '.' ? '' : posix.dirname(p);
      const full = (rel: string): string => (parent ? `${parent}/${rel}` : rel);
      for await (const { entry, header, rel, kind } of selectedEntries(input, '', (r, k) => select(full(r), k))) await writeEntry(out, entry, header, full(rel), kind, files);
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

import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack, type Header, type Pack } from 'tar-stream';

/**
 * Streams Docker archive-API tarballs through a filter without touching the
 * host's disk. Docker's GET /archive prefixes every entry with the basename of
 * the requested path (`jenkins_home/...`): entries are renamed relative to it
 * so they can be PUT into another container at the same path.
 */
export interface ArchiveFile {
  path: string;
  size: number;
  sha256: string;
}
export type EntryKind = 'file' | 'directory' | 'symlink' | 'other';
/** Decides per relative path (no leading/trailing slash) whether an entry goes through. */
export type EntrySelector = (relPath: string, kind: EntryKind) => boolean;

/** Files up to this size are copied through one buffer instead of a stream pipeline. */
const SMALL_FILE_BYTES = 1 << 20;

const kindOf = (h: Header): EntryKind =>
  h.type === 'file' || h.type === 'contiguous-file' ? 'file' : h.type === 'directory' ? 'directory' : h.type === 'symlink' ? 'symlink' : 'other';

/** `jenkins_home/jobs/a/` → `jobs/a`; the root entry itself → ''. */
export function relativeEntryName(name: string, prefix: string): string | null {
  const clean = name.replace(/^\.\//, '').replace(/\/+$/, '');
  if (!prefix) return clean;
  if (clean === prefix) return '';
  if (clean.startsWith(`${prefix}/`)) return clean.slice(prefix.length + 1);
  return null;
}

function hashingTap(onDone: (sha256: string, size: number) => void): Transform {
  const h = createHash('sha256');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      onDone(h.digest('hex'), size);
      cb();
    },
  });
}

/** One entry as tar-stream's extract yields it (a readable body with its header). */
export type TarEntry = ReturnType<typeof tarExtract> extends AsyncIterable<infer E> ? E : never;

/**
 * The entries of a tar stream that `select` keeps, with their path relative to
 * `stripPrefix` (the root entry, unselected ones and devices/fifos are skipped).
 * The consumer must read or resume each entry; the input is awaited at the end.
 */
export async function* selectedEntries(input: NodeJS.ReadableStream, stripPrefix: string, select: EntrySelector): AsyncGenerator<{ entry: TarEntry; header: Header; rel: string; kind: Exclude<EntryKind, 'other'> }> {
  const extract = tarExtract();
  const feeding = pipeline(input as Readable, extract);
  feeding.catch(() => undefined); // awaited after the loop; when the loop throws first this must not become an unhandled rejection
  for await (const entry of extract) {
    const header = entry.header;
    const rel = relativeEntryName(header.name, stripPrefix);
    const kind = kindOf(header);
    if (rel === null || rel === '' || kind === 'other' || !select(rel, kind)) {
      entry.resume();
      continue;
    }
    yield { entry, header, rel, kind };
  }
  await feeding;
}

/** Reads an entry to its end: its sha256 and size, keeping nothing. */
async function digestOf(entry: AsyncIterable<unknown>): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of entry) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/** What a tar header says of an entry that went through (a pre-copy's manifest is made of these). */
export interface ObservedEntry {
  path: string;
  kind: Exclude<EntryKind, 'other'>;
  size: number;
  mtimeSec: number;
  linkname?: string;
}
export type EntryObserver = (e: ObservedEntry) => void;

/**
 * Writes one selected entry into `out` under `name` (relative, no slashes at
 * the ends), recording a file's size and sha256 in `files`; directories and
 * links carry no body.
 */
export async function writeEntry(out: Pack, entry: TarEntry, header: Header, rel: string, kind: Exclude<EntryKind, 'other'>, files: ArchiveFile[]): Promise<void> {
  const name = kind === 'directory' ? `${rel}/` : rel;
  if (kind === 'file' && (header.size ?? 0) <= SMALL_FILE_BYTES) {
    // Most of a Jenkins home is small XML: one buffer per file is several times faster than a stream pipeline each.
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const buf = Buffer.concat(chunks);
    files.push({ path: rel, size: buf.length, sha256: createHash('sha256').update(buf).digest('hex') });
    await new Promise<void>((resolve, reject) => out.entry({ ...header, name }, buf, (err) => (err ? reject(err) : resolve())));
  } else if (kind === 'file') {
    const sink = out.entry({ ...header, name });
    await pipeline(entry, hashingTap((sha256, size) => files.push({ path: rel, size, sha256 })), sink);
  } else {
    await new Promise<void>((resolve, reject) => out.entry({ ...header, name, size: 0 }, (err) => (err ? reject(err) : resolve())));
    entry.resume();
  }
}

/**
 * Filters and re-roots a tar stream. Returns the new tar stream and a promise of
 * the files that went through (with sha256), settled when the input is consumed.
 * Directory entries are kept only when selected; `other` kinds (devices, fifos) never.
 */
export function filterArchive(input: NodeJS.ReadableStream, stripPrefix: string, select: EntrySelector, observe?: EntryObserver): { stream: Readable; files: Promise<ArchiveFile[]> } {
  const out = tarPack();
  const files: ArchiveFile[] = [];
  const run = async (): Promise<ArchiveFile[]> => {
    for await (const { entry, header, rel, kind } of selectedEntries(input, stripPrefix, select)) {
      observe?.({ path: rel, kind, size: header.size ?? 0, mtimeSec: Math.floor((header.mtime?.getTime() ?? 0) / 1000), ...(kind === 'symlink' ? { linkname: header.linkname ?? '' } : {}) });
      await writeEntry(out, entry, header, rel, kind, files);
    }
    out.finalize();
    return files;
  };
  const done = run().catch((err: unknown) => {
    out.destroy(err as Error);
    throw err;
  });
  done.catch(() => undefined); // a caller whose upload failed never awaits `files`: that must not crash the process
  return { stream: out as unknown as Readable, files: done };
}

/** Reads a tar stream and lists its regular files with size and sha256 (for integrity checks). */
export async function listArchive(input: NodeJS.ReadableStream): Promise<ArchiveFile[]> {
  const extract = tarExtract();
  const files: ArchiveFile[] = [];
  const feeding = pipeline(input as Readable, extract);
  feeding.catch(() => undefined); // awaited after the loop; when the loop throws first this must not become an unhandled rejection
  for await (const entry of extract) {
    if (kindOf(entry.header) !== 'file') {
      entry.resume();
      continue;
    }
    const rel = relativeEntryName(entry.header.name, '') ?? entry.header.name;
    files.push({ path: rel, ...(await digestOf(entry)) });
  }
  await feeding;
  return files;
}

/** Names and kinds of a tar stream's entries, contents skipped (cheap listing of a directory). */
export async function listArchiveEntries(input: NodeJS.ReadableStream): Promise<Array<{ name: string; kind: EntryKind }>> {
  const extract = tarExtract();
  const out: Array<{ name: string; kind: EntryKind }> = [];
  const feeding = pipeline(input as Readable, extract);
  feeding.catch(() => undefined); // awaited after the loop; when the loop throws first this must not become an unhandled rejection
  for await (const entry of extract) {
    out.push({ name: entry.header.name.replace(/\/+$/, ''), kind: kindOf(entry.header) });
    entry.resume();
  }
  await feeding;
  return out;
}

/** One entry of a JENKINS_HOME listing: enough to tell whether two homes hold the same bytes. */
export interface HomeEntry {
  /** Relative to the home, no leading/trailing slash. */
  path: string;
  kind: Exclude<EntryKind, 'other'>;
  /** Regular files only. */
  sha256?: string;
  size?: number;
  /** Symlinks only. */
  linkname?: string;
}

/**
 * Lists the selected entries of a tar stream (files with sha256, directories,
 * symlinks with their target) without keeping any content: what a target's
 * home holds before and after a migration copy, compared by path and digest.
 */
export async function listSelectedEntries(input: NodeJS.ReadableStream, stripPrefix: string, select: EntrySelector): Promise<HomeEntry[]> {
  const out: HomeEntry[] = [];
  for await (const { entry, header, rel, kind } of selectedEntries(input, stripPrefix, select)) {
    if (kind !== 'file') {
      out.push(kind === 'symlink' ? { path: rel, kind, linkname: header.linkname ?? '' } : { path: rel, kind });
      entry.resume();
      continue;
    }
    out.push({ path: rel, kind, ...(await digestOf(entry)) });
  }
  return out;
}

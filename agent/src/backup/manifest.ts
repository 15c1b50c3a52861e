import { z } from 'zod';
import type { ArchiveFile } from '../docker/archive';

/**
 * A backup on the host: `<root>/<team>/<backupId>/home.tar` plus
 * `manifest.json` listing every file with size and sha256, and the archive's
 * own sha256. Read back through `verifyArchive` before anything is restored.
 */
export const BACKUP_ID_PATTERN = /^(blue|green)-\d{8}T\d{6}Z-[a-f0-9]{6}$/;
export const ARCHIVE_FILE = 'home.tar';
export const MANIFEST_FILE = 'manifest.json';

const fileSchema = z.object({ path: z.string().min(1), size: z.number().int().min(0), sha256: z.string().regex(/^[a-f0-9]{64}$/) }).strict();
export const manifestSchema = z
  .object({
    version: z.literal(1),
    backupId: z.string().regex(BACKUP_ID_PATTERN),
    team: z.string(),
    environment: z.enum(['blue', 'green']),
    createdAt: z.string(),
    image: z.string().nullable(),
    archive: z.literal(ARCHIVE_FILE),
    archiveSha256: z.string().regex(/^[a-f0-9]{64}$/),
    archiveBytes: z.number().int().min(0),
    bytes: z.number().int().min(0),
    files: z.array(fileSchema),
  })
  .strict();
export type BackupManifest = z.infer<typeof manifestSchema>;

export function backupIdFor(environment: 'blue' | 'green', at: Date, random: string): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${environment}-${stamp}-${random}`;
}

/**
 * Pure: compares what the archive holds with its manifest. Returns the
 * problems (empty when intact): a changed, missing or unexpected file, or a
 * different archive checksum.
 */
export function verifyArchive(manifest: BackupManifest, archiveSha256: string, files: ArchiveFile[]): string[] {
  const problems: string[] = [];
  if (archiveSha256 !== manifest.archiveSha256) problems.push(`${ARCHIVE_FILE} sha256 is ${archiveSha256}, manifest says ${manifest.archiveSha256}`);
  const actual = new Map(files.map((f) => [f.path, f]));
  for (const f of manifest.files) {
    const a = actual.get(f.path);
    if (!a) problems.push(`${f.path} is missing from the archive`);
    else if (a.sha256 !== f.sha256 || a.size !== f.size) problems.push(`${f.path} differs from the manifest (sha256 ${a.sha256.slice(0, 12)}…, expected ${f.sha256.slice(0, 12)}…)`);
    actual.delete(f.path);
  }
  for (const extra of actual.keys()) problems.push(`${extra} is in the archive but not in the manifest`);
  return problems;
}

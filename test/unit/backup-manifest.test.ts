import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { backupIdFor, BACKUP_ID_PATTERN, verifyArchive, type BackupManifest } from '../../agent/src/backup/manifest';
import { expiredBackups } from '../../agent/src/backup/retention';
import { durationMs, startBackupScheduler } from '../../agent/src/backup/scheduler';
import { filterArchive, listArchive, relativeEntryName } from '../../agent/src/docker/archive';
import { parseTeamsDocument } from '../../catalog/teams-file';

const sha = (c: string) => c.repeat(64);
const manifest = (files: BackupManifest['files']): BackupManifest => ({
  version: 1, backupId: 'blue-20250101T000000Z-abcdef', team: 't', environment: 'blue', createdAt: '2025-01-01T00:00:00.000Z', image: null,
  archive: 'home.tar', archiveSha256: sha('a'), archiveBytes: 10, bytes: 3, files,
});

test('backup ids are stamped and match the pattern restore accepts', () => {
  const id = backupIdFor('green', new Date('2025-03-04T05:06:07.890Z'), 'a1b2c3');
  expect(id).toBe('green-20250304T050607Z-a1b2c3');
  expect(BACKUP_ID_PATTERN.test(id)).toBe(true);
  expect(BACKUP_ID_PATTERN.test('../x')).toBe(false);
});

test('verifyArchive reports a changed archive, changed, missing and unexpected files', () => {
  const m = manifest([{ path: 'a', size: 1, sha256: sha('1') }, { path: 'b', size: 2, sha256: sha('2') }]);
  expect(verifyArchive(m, sha('a'), [{ path: 'a', size: 1, sha256: sha('1') }, { path: 'b', size: 2, sha256: sha('2') }])).toEqual([]);
  const problems = verifyArchive(m, sha('f'), [{ path: 'a', size: 1, sha256: sha('9') }, { path: 'c', size: 1, sha256: sha('3') }]);
  expect(problems).toHaveLength(4);
  expect(problems.join('\n')).toMatch(/home\.tar sha256[\s\S]*a differs[\s\S]*b is missing[\s\S]*c is in the archive but not in the manifest/);
});

test('retention by count and age always keeps the newest', () => {
  const now = new Date('2025-01-10T00:00:00Z');
  const b = (id: string, hoursAgo: number) => ({ backupId: id, createdAt: new Date(now.getTime() - hoursAgo * 3600_000) });
  const list = [b('n1', 1), b('n2', 2), b('n3', 3), b('old', 200)];
  expect(expiredBackups(list, { keepCount: 2, maxAgeSec: 7 * 86400 }, now).sort()).toEqual(['n3', 'old']);
  expect(expiredBackups(list, { keepCount: 10, maxAgeSec: 3600 * 2.5 }, now).sort()).toEqual(['n3', 'old']);
  expect(expiredBackups([b('only', 1000)], { keepCount: 1, maxAgeSec: 1 }, now)).toEqual([]);
});

test('durationMs reads the teams file intervals', () => {
  expect(durationMs('15m')).toBe(900_000);
  expect(durationMs('90s')).toBe(90_000);
  expect(durationMs('1h')).toBe(3_600_000);
  expect(() => durationMs('15 minutes')).toThrow('invalid duration');
});

test('the scheduler backs up each team, counts failures and skips, and stops cleanly', async () => {
  const teams = parseTeamsDocument('jenkins_teams:\n  - team_name: a\n    web_port: 9000\n    agent_port: 9500\n  - team_name: b\n    web_port: 9001\n    agent_port: 9501\n  - team_name: c\n    web_port: 9002\n    agent_port: 9502\n', 't').teams;
  const ok: string[] = [];
  const failed: string[] = [];
  const errors: string[] = [];
  const s = startBackupScheduler({
    intervalMs: 3_600_000,
    teams: () => teams,
    backup: async (t) => {
      if (t.team_name === 'b') throw new Error('docker down');
      return t.team_name === 'c' ? 'skipped' : 'done';
    },
    metrics: { recordSuccess: (t) => ok.push(t), recordFailure: (t) => failed.push(t) },
    onError: (t, e) => errors.push(`${t}: ${(e as Error).message}`),
  });
  await s.runOnce();
  await s.stop();
  expect(ok).toEqual(['a']);
  expect(failed).toEqual(['b']);
  expect(errors).toEqual(['b: docker down']);
});

test('filterArchive re-roots entries, drops unselected ones and hashes what passes', async () => {
  const p = tarPack();
  p.entry({ name: 'jenkins_home/', type: 'directory' });
  p.entry({ name: 'jenkins_home/config.xml' }, '<hudson/>');
  p.entry({ name: 'jenkins_home/workspace/x' }, 'scratch');
  p.finalize();
  const { stream, files } = filterArchive(p as unknown as NodeJS.ReadableStream, 'jenkins_home', (rel) => !rel.startsWith('workspace'));
  const relisted = await listArchive(stream);
  const passed = await files;
  expect(passed.map((f) => [f.path, f.size])).toEqual([['config.xml', 9]]);
  expect(relisted).toEqual(passed);
  expect(relativeEntryName('jenkins_home/jobs/a/', 'jenkins_home')).toBe('jobs/a');
  expect(relativeEntryName('other/x', 'jenkins_home')).toBeNull();
  await expect(listArchive(Readable.from([Buffer.from('not a tar archive at all'.repeat(40))]))).rejects.toThrow();
});

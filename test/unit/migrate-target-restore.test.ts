import type { HomeEntry } from '../../agent/src/docker/archive';
import { unsettledTargetSnapshots } from '../../agent/src/environments/recovery';
import { absoluteInHome, manualRestoreCommands } from '../../agent/src/environments/target-snapshot';
import { copyEffect, isRestored, planRestore } from '../../agent/src/jenkins/home-layout';
import type { JournalStep, OperationRecord } from '../../agent/src/store/contract';

const dir = (path: string): HomeEntry => ({ path, kind: 'directory' });
const file = (path: string, sha256: string): HomeEntry => ({ path, kind: 'file', sha256, size: 1 });

// The target before the copy: one job with its config, the users tree, one plugin.
const before: HomeEntry[] = [dir('jobs'), dir('jobs/old'), file('jobs/old/config.xml', 'o1'), dir('users'), file('config.xml', 'c1'), dir('plugins'), file('plugins/git.jpi', 'g1')];

describe('what a migration copy overwrites and adds', () => {
  test('a copied file the target had with other bytes is overwritten; same bytes or a directory is not; unknown paths are added', () => {
    const copied = [
      { path: 'config.xml', sha256: 'c2' },
      { path: 'plugins/git.jpi', sha256: 'g1' },
      { path: 'jobs' },
      { path: 'jobs/app' },
      { path: 'jobs/app/config.xml', sha256: 'a1' },
    ];
    expect(copyEffect(copied, before)).toEqual({ overwrites: ['config.xml'], adds: ['jobs/app', 'jobs/app/config.xml'] });
  });

  test('nothing copied: nothing overwritten or added', () => {
    expect(copyEffect([], before)).toEqual({ overwrites: [], adds: [] });
  });
});

describe('planRestore: back to the saved target home', () => {
  test('an unchanged home needs nothing', () => {
    const plan = planRestore(before, [...before].reverse());
    expect(plan).toEqual({ remove: [], changed: [], missing: [] });
    expect(isRestored(plan)).toBe(true);
  });

  test('a new job directory is removed whole (not file by file); an overwritten file is written back', () => {
    const now = [...before.filter((e) => e.path !== 'config.xml'), file('config.xml', 'c2'), dir('jobs/app'), file('jobs/app/config.xml', 'a1'), file('jobs/app/nextBuildNumber', 'n1'), file('users/sidecar.xml', 'u1')];
    const plan = planRestore(before, now);
    expect(plan).toEqual({ remove: ['jobs/app', 'users/sidecar.xml'], changed: ['config.xml'], missing: [] });
    expect(isRestored(plan)).toBe(false);
  });

  test('a saved file that is gone is missing; a changed symlink target is changed', () => {
    const saved = [...before, { path: 'jobs/old/lastStable', kind: 'symlink' as const, linkname: 'builds/3' }];
    const now = [...before.filter((e) => e.path !== 'jobs/old/config.xml'), { path: 'jobs/old/lastStable', kind: 'symlink' as const, linkname: 'builds/4' }];
    expect(planRestore(saved, now)).toEqual({ remove: [], changed: ['jobs/old/lastStable'], missing: ['jobs/old/config.xml'] });
  });

  test('an entry that changed kind is removed and written back; what the saved directory held is missing', () => {
    // The copy put a directory where the target had a file, and a file where it had a directory.
    const now = [...before.filter((e) => !e.path.startsWith('jobs/old') && e.path !== 'config.xml'), dir('config.xml'), file('config.xml/x', 'x'), file('jobs/old', 'f')];
    expect(planRestore(before, now)).toEqual({ remove: ['config.xml', 'jobs/old'], changed: ['config.xml', 'jobs/old'], missing: ['jobs/old/config.xml'] });
  });
});

describe('paths handed to rm inside the container', () => {
  test('plain relative paths become absolute under the home', () => {
    expect(absoluteInHome('jobs/app')).toBe('/var/jenkins_home/jobs/app');
    expect(absoluteInHome('jobs/my job/config.xml')).toBe('/var/jenkins_home/jobs/my job/config.xml');
  });

  test('anything that could leave the home or read as an option is refused', () => {
    for (const bad of ['../etc', 'jobs/../../x', '', 'jobs//x', '-rf', './jobs', 'jobs/\0x']) expect(() => absoluteInHome(bad)).toThrow(/refusing to remove/);
  });

  test('the manual command quotes paths and reads the archive back with docker cp', () => {
    const text = manualRestoreCommands('team-green', '/data/migrate-snapshots/op-green.tar', ["jobs/it's"]);
    expect(text).toBe("docker exec -u 0 team-green rm -rf -- '/var/jenkins_home/jobs/it'\\''s'; docker cp - team-green:/var/jenkins_home < /data/migrate-snapshots/op-green.tar; then reload that Jenkins");
  });
});

describe('recovery: which saved targets a crashed migration left', () => {
  const step = (seq: number, name: string, intent: Record<string, unknown>, outcome: JournalStep['outcome']): JournalStep => ({ seq, name, intent, outcome, result: null, at: new Date(0) });
  const op = (steps: JournalStep[]): OperationRecord => ({ id: 'op1', type: 'state.migrate', team: 't', phase: 'copy', steps } as unknown as OperationRecord);
  const snap = { environment: 'green', container: 't-green', archive: '/d/op1-green.tar', includeBuilds: true, includeWorkspaces: false, imageOwned: false };

  test('snapshot done and the copy begun (pending): restore it', () => {
    expect(unsettledTargetSnapshots(op([step(1, 'quiet_down_source', { environment: 'blue' }, 'done'), step(2, 'snapshot_target', snap, 'done'), step(3, 'copy_configuration', {}, 'pending')]))).toEqual([
      { ...snap, copyStarted: true },
    ]);
  });

  test('snapshot taken but the copy never began: listed with copyStarted false (only the file goes)', () => {
    expect(unsettledTargetSnapshots(op([step(1, 'snapshot_target', snap, 'pending')]))).toEqual([{ ...snap, copyStarted: false }]);
  });

  test('a done restore or a done discard settles it; a failed restore does not', () => {
    const base = [step(1, 'snapshot_target', snap, 'done'), step(2, 'copy_configuration', {}, 'failed')];
    expect(unsettledTargetSnapshots(op([...base, step(3, 'restore_target', { archive: snap.archive }, 'done')]))).toEqual([]);
    expect(unsettledTargetSnapshots(op([...base, step(3, 'discard_target_snapshot', { archive: snap.archive }, 'done')]))).toEqual([]);
    expect(unsettledTargetSnapshots(op([...base, step(3, 'restore_target', { archive: snap.archive }, 'failed')]))).toEqual([{ ...snap, copyStarted: true }]);
  });

  test('a snapshot step without an archive or environment is ignored', () => {
    expect(unsettledTargetSnapshots(op([step(1, 'snapshot_target', { environment: 'green' }, 'done'), step(2, 'copy_configuration', {}, 'done')]))).toEqual([]);
  });
});

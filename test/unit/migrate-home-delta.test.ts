import { FIND_FORMAT, FIND_FORMAT_FULL_PATH, parseFindListing, planDelta, planDeltaFromChanges, stayedBehind, type ListedEntry } from '../../agent/src/environments/home-delta';

const f = (path: string, size: number, mtimeSec: number): ListedEntry => ({ path, kind: 'file', size, mtimeSec });
const d = (path: string): ListedEntry => ({ path, kind: 'directory', size: 4096, mtimeSec: 1 });

describe('pre-copy delta', () => {
  test('parses find -printf output with NUL-terminated fields, START itself and fifos left out', () => {
    expect(FIND_FORMAT).toBe('%y\\0%s\\0%T@\\0%P\\0%l\\0');
    const out = Buffer.from(['d', '4096', '1700000000.5', '', '', 'f', '12', '1700000001.9999', 'jobs/a b/config.xml', '', 'l', '2', '1700000002.0', 'jobs/a b/lastStable', '3', 'p', '0', '1', 'fifo', ''].map((x) => `${x}\0`).join(''));
    expect(parseFindListing(out)).toEqual([
      { path: 'jobs/a b/config.xml', kind: 'file', size: 12, mtimeSec: 1700000001 },
      { path: 'jobs/a b/lastStable', kind: 'symlink', size: 2, mtimeSec: 1700000002, linkname: '3' },
    ]);
  });

  test('copies changed files, whole new directories once, and removes what the source deleted (topmost only)', () => {
    const copied = new Map([d('jobs/app'), f('jobs/app/config.xml', 10, 100), f('jobs/app/nextBuildNumber', 2, 100), d('jobs/old'), f('jobs/old/config.xml', 5, 100), f('users/u/config.xml', 7, 100)].map((e) => [e.path, e]));
    const now = [d('jobs/app'), f('jobs/app/config.xml', 10, 100), f('jobs/app/nextBuildNumber', 2, 150), d('jobs/app/builds'), d('jobs/app/builds/2'), f('jobs/app/builds/2/log', 300, 150), f('users/u/config.xml', 8, 100)];
    expect(planDelta(copied, now, 140)).toEqual({ fetch: ['jobs/app/builds', 'jobs/app/nextBuildNumber', 'users/u/config.xml'], remove: ['jobs/old'], files: 3, bytes: 310 });
  });

  test('a file modified from the second the pre-copy started on is copied again even with the same size and mtime', () => {
    const copied = new Map([f('jobs/a/nextBuildNumber', 2, 200)].map((e) => [e.path, e]));
    expect(planDelta(copied, [f('jobs/a/nextBuildNumber', 2, 200)], 199).fetch).toEqual(['jobs/a/nextBuildNumber']);
    expect(planDelta(copied, [f('jobs/a/nextBuildNumber', 2, 200)], 201).fetch).toEqual([]);
  });

  test('an entry that changed kind is removed and copied again', () => {
    const copied = new Map([f('jobs/a/builds/lastStable', 2, 1)].map((e) => [e.path, e]));
    const plan = planDelta(copied, [{ path: 'jobs/a/builds/lastStable', kind: 'symlink', size: 1, mtimeSec: 1, linkname: '3' }], 100);
    expect(plan).toMatchObject({ fetch: ['jobs/a/builds/lastStable'], remove: ['jobs/a/builds/lastStable'] });
  });
});

test('what a target did after its migration: a build that ran there and a config saved there, by size and mtime only', () => {
  const after = [d('jobs/app'), f('jobs/app/config.xml', 10, 100), d('jobs/app/builds'), f('jobs/app/nextBuildNumber', 2, 100)];
  const now = [d('jobs/app'), f('jobs/app/config.xml', 12, 180), d('jobs/app/builds'), d('jobs/app/builds/5'), f('jobs/app/builds/5/log', 40, 170), f('jobs/app/nextBuildNumber', 2, 100)];
  expect(stayedBehind(after, now)).toEqual({ changed: ['jobs/app/builds/5', 'jobs/app/config.xml'], removed: [], files: 2, bytes: 52, builds: ['app#5'] });
  expect(stayedBehind(after, after)).toEqual({ changed: [], removed: [], files: 0, bytes: 0, builds: [] });
});

test('builds of a job created on the target are named though only the job directory is listed as new; permalinks are not builds', () => {
  const now = [d('jobs'), d('jobs/f'), d('jobs/f/jobs'), d('jobs/f/jobs/new'), f('jobs/f/jobs/new/config.xml', 9, 50), d('jobs/f/jobs/new/builds'), d('jobs/f/jobs/new/builds/1'), d('jobs/f/jobs/new/builds/lastSuccessfulBuild')];
  expect(stayedBehind([d('jobs'), d('jobs/f'), d('jobs/f/jobs')], now)).toMatchObject({ changed: ['jobs/f/jobs/new'], builds: ['f/new#1'] });
});

test('a file rewritten with the same size in the second the baseline was listed counts as changed (racily clean), one from an earlier second does not', () => {
  const before = [d('jobs/app'), f('jobs/app/nextBuildNumber', 2, 100), f('jobs/app/config.xml', 10, 99)];
  const now = [d('jobs/app'), f('jobs/app/nextBuildNumber', 2, 100), f('jobs/app/config.xml', 10, 99)];
  expect(stayedBehind(before, now, 100).changed).toEqual(['jobs/app/nextBuildNumber']);
  expect(stayedBehind(before, now, 101).changed).toEqual([]);
});

describe('the delta from a listing of changes only', () => {
  const copied = new Map([d('jobs'), d('jobs/app'), f('jobs/app/config.xml', 10, 100), f('jobs/app/nextBuildNumber', 2, 100), d('jobs/app/builds'), d('jobs/app/builds/1'), f('jobs/app/builds/1/log', 50, 100), d('jobs/old'), f('jobs/old/config.xml', 5, 100), f('config.xml', 9, 100)].map((e) => [e.path, e]));

  test('parses find -printf output with %p paths under the home, the home itself and anything outside it left out', () => {
    expect(FIND_FORMAT_FULL_PATH).toBe('%y\\0%s\\0%T@\\0%p\\0%l\\0');
    const out = Buffer.from(['d', '4096', '1', '/var/jenkins_home', '', 'f', '3', '2.5', '/var/jenkins_home/jobs/a/nextBuildNumber', '', 'f', '1', '1', '/var/jenkins_homeX/y', ''].map((x) => `${x}\0`).join(''));
    expect(parseFindListing(out, '/var/jenkins_home')).toEqual([{ path: 'jobs/a/nextBuildNumber', kind: 'file', size: 3, mtimeSec: 2 }]);
  });

  test('an entry the view does not show is as copied; what it shows is compared as planDelta compares', () => {
    const view = { entries: [f('jobs/app/nextBuildNumber', 2, 150), d('jobs/app/builds/2'), f('jobs/app/builds/2/log', 70, 150)], listedDirs: new Set<string>() };
    expect(planDeltaFromChanges(copied, view, 140)).toEqual({ fetch: ['jobs/app/builds/2', 'jobs/app/nextBuildNumber'], remove: [], files: 2, bytes: 72 });
  });

  test('removals are the copied children missing from a listed directory, topmost only; a child there with the same kind stays', () => {
    const view = { entries: [d('jobs'), d('jobs/app'), d('jobs/app/builds'), f('config.xml', 9, 100)], listedDirs: new Set(['', 'jobs', 'jobs/app/builds']) };
    expect(planDeltaFromChanges(copied, view, 140)).toEqual({ fetch: [], remove: ['jobs/app/builds/1', 'jobs/old'], files: 0, bytes: 0 });
  });

  test('an entry that changed kind is removed and copied again; a new directory is fetched once with its subtree', () => {
    const view = { entries: [d('jobs'), d('jobs/app'), { path: 'jobs/old', kind: 'symlink' as const, size: 1, mtimeSec: 150, linkname: 'app' }, d('jobs/new'), f('jobs/new/config.xml', 4, 90)], listedDirs: new Set(['jobs']) };
    expect(planDeltaFromChanges(copied, view, 140)).toEqual({ fetch: ['jobs/new', 'jobs/old'], remove: ['jobs/old'], files: 1, bytes: 4 });
  });

  test('same as planDelta over the full listing when the view lists everything', () => {
    const now = [d('jobs'), d('jobs/app'), f('jobs/app/config.xml', 11, 160), f('jobs/app/nextBuildNumber', 2, 100), d('jobs/app/builds'), f('config.xml', 9, 100)];
    const all = new Set(['', 'jobs', 'jobs/app', 'jobs/app/builds']);
    expect(planDeltaFromChanges(copied, { entries: now, listedDirs: all }, 140)).toEqual(planDelta(copied, now, 140));
  });
});

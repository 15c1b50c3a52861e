import type Docker from 'dockerode';
import { judgeAgents, judgeApi, judgeContainer, judgeJobs, judgePlugins, judgeUser } from '../../agent/src/environments/validate-checks';
import type { JobSummary, PluginInfo } from '../../agent/src/jenkins/api-types';
import { quietedSources } from '../../agent/src/environments/recovery';
import type { OperationRecord } from '../../agent/src/store/contract';

const job = (fullName: string, nextBuildNumber: number | null = 1): JobSummary => ({ fullName, className: 'x', buildable: true, disabled: false, nextBuildNumber, folder: false });
const plugin = (shortName: string, active = true): PluginInfo => ({ shortName, version: '1', active, enabled: active });

test('container: absent, exited, unhealthy, healthy, and probe-only', () => {
  expect(judgeContainer('container_health', 'c', null, null)).toMatchObject({ passed: false, figure: 'absent' });
  expect(judgeContainer('container_health', 'c', { State: { Running: false, Status: 'exited', ExitCode: 137 } } as unknown as Docker.ContainerInspectInfo, null)).toMatchObject({ passed: false, figure: 'exited' });
  const unhealthy = judgeContainer('container_health', 'c', { State: { Running: true, Health: { Status: 'unhealthy', FailingStreak: 3, Log: [{ Start: '', End: '', ExitCode: 1, Output: '' }] } } } as unknown as Docker.ContainerInspectInfo, null);
  expect(unhealthy).toMatchObject({ passed: false, figure: 'unhealthy' });
  expect(unhealthy.reason).toContain('3 failing checks');
  expect(judgeContainer('container_health', 'c', { State: { Running: true, Health: { Status: 'healthy', FailingStreak: 0, Log: [] } } } as unknown as Docker.ContainerInspectInfo, null).passed).toBe(true);
  expect(judgeContainer('container_health', 'c', { State: { Running: true } } as unknown as Docker.ContainerInspectInfo, false).passed).toBe(false);
});

test('api: status and threshold', () => {
  expect(judgeApi(120, 200, 2000)).toMatchObject({ passed: true, figure: 120 });
  expect(judgeApi(2500, 200, 2000)).toMatchObject({ passed: false, reason: 'GET /api/json took 2500 ms, over the 2000 ms threshold' });
  expect(judgeApi(10, 503, 2000).passed).toBe(false);
});

test('jobs: missing jobs and build numbers that went down fail; no source passes with a note', () => {
  expect(judgeJobs([job('a')], null, null)).toMatchObject({ passed: true, figure: 1 });
  expect(judgeJobs([job('a')], [job('a'), job('f/b')], 'devops/blue')).toMatchObject({ passed: false, figure: '1/2', reason: 'missing 1 job(s) of devops/blue: f/b' });
  expect(judgeJobs([job('a', 3)], [job('a', 9)], 'devops/blue').reason).toContain('a (9 → 3)');
  expect(judgeJobs([job('a', 9), job('extra')], [job('a', 9)], 'devops/blue')).toMatchObject({ passed: true, figure: '1/1' });
});

test('plugins: failed to load (on disk, absent from API), inactive, and missing compared to the source', () => {
  const disk = [{ shortName: 'git', disabled: false }, { shortName: 'old', disabled: true }];
  expect(judgePlugins([plugin('git')], disk, null).passed).toBe(true);
  expect(judgePlugins([], disk, null).reason).toContain('failed to load: git');
  expect(judgePlugins([plugin('git'), plugin('ws', false)], disk, null).reason).toContain('inactive: ws');
  expect(judgePlugins([plugin('git')], disk, [plugin('git'), plugin('docker')]).reason).toContain('active on the source but not here: docker');
});

test('user: anonymous, another user, rejected token, the service account', () => {
  expect(judgeUser({ name: 'anonymous', anonymous: true, authenticated: true, authorities: ['anonymous'] }, 'sidecar', null).passed).toBe(false);
  expect(judgeUser({ name: 'bob', anonymous: false, authenticated: true, authorities: ['authenticated'] }, 'sidecar', null).passed).toBe(false);
  expect(judgeUser(null, 'sidecar', '401 rejected')).toMatchObject({ passed: false, figure: 'rejected', reason: '401 rejected' });
  expect(judgeUser({ name: 'sidecar', anonymous: false, authenticated: true, authorities: ['authenticated'] }, 'sidecar', null).passed).toBe(true);
});

test('agents: offline and unknown required agents fail', () => {
  const set = { busyExecutors: 0, totalExecutors: 1, computer: [{ displayName: 'Built-In Node', offline: false, idle: true }, { displayName: 'a1', offline: true, idle: true, offlineCauseReason: 'gone' }] };
  expect(judgeAgents(set, [])).toMatchObject({ passed: true, figure: '0/0' });
  expect(judgeAgents(set, ['a1', 'a2'])).toMatchObject({ passed: false, figure: '0/2', reason: 'required agents offline: a1 (gone); not configured: a2' });
  expect(judgeAgents(set, ['Built-In Node'])).toMatchObject({ passed: true, figure: '1/1' });
});

test('recovery: a quiet-down whose intent was written (even pending) and not cancelled is given back', () => {
  const step = (name: string, environment: string, outcome: 'pending' | 'done' | 'failed') => ({ seq: 1, name, intent: { environment }, outcome, result: null, at: new Date() });
  const op = (steps: ReturnType<typeof step>[]) => ({ steps }) as unknown as OperationRecord;
  expect(quietedSources(op([step('quiet_down_source', 'blue', 'pending')]))).toEqual(['blue']);
  expect(quietedSources(op([step('quiet_down_source', 'blue', 'done'), step('cancel_quiet_down_source', 'blue', 'done')]))).toEqual([]);
  expect(quietedSources(op([step('quiet_down_source', 'blue', 'failed')]))).toEqual([]);
  expect(quietedSources(op([step('deploy', 'green', 'done')]))).toEqual([]);
});

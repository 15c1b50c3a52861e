import { buildRefFromUrl, parseBuildRef } from '../../agent/src/jenkins/build-ref';
import { assessActivity } from '../../agent/src/jenkins/activity';
import { flattenJobs } from '../../agent/src/jenkins/client';
import { excludingBuild, imageOwnsConfiguration, leftToImage, selectForBackup, selectForMigration, splitJobPath } from '../../agent/src/jenkins/home-layout';
import { coordinationNodeName } from '../../catalog/coordination-node';
import type { ComputerSet } from '../../agent/src/jenkins/api-types';

describe('JENKINS_HOME selection', () => {
  test('splitJobPath follows folders', () => {
    expect(splitJobPath('jobs/a/jobs/b/builds/3/log')).toEqual({ job: 'a/b', rest: ['builds', '3', 'log'], isJobTree: true });
    expect(splitJobPath('jobs/a/config.xml')).toEqual({ job: 'a', rest: ['config.xml'], isJobTree: true });
    expect(splitJobPath('users/x')).toEqual({ job: null, rest: ['users', 'x'], isJobTree: false });
  });

  test('a same-image switch copies configuration, users, secrets, the plugin list and build history, not workspaces', () => {
    const sel = selectForMigration();
    const keep = ['config.xml', 'credentials.xml', 'secret.key', 'jobs/app/config.xml', 'jobs/f/jobs/b/config.xml', 'jobs/app/nextBuildNumber', 'jobs/app/builds/1/log', 'jobs/f/jobs/b/builds/3/build.xml', 'users/sidecar/config.xml', 'secrets/master.key', 'nodes/agent-1/config.xml', 'plugins/git.jpi', 'plugins/git.jpi.disabled'];
    const drop = ['jobs/app/workspace/x', 'workspace/app/file', 'plugins/git/META-INF/MANIFEST.MF', 'plugins/git.jpi.version_from_image', 'logs/tasks/x.log', 'war/index.html', 'jobs/app/lastStable', 'queue.xml.bak', 'caches/x'];
    for (const p of keep) expect([p, sel(p, 'file')]).toEqual([p, true]);
    for (const p of drop) expect([p, sel(p, 'file')]).toEqual([p, false]);
    expect(sel('jobs/f/jobs', 'directory')).toBe(true);
    expect(sel('plugins/git', 'directory')).toBe(false);
  });

  test('history stays behind only when refused; workspaces come only when asked', () => {
    expect(selectForMigration({ includeBuilds: false })('jobs/app/builds/1/log', 'file')).toBe(false);
    const sel = selectForMigration({ includeWorkspaces: true });
    expect(sel('jobs/app/builds/1/log', 'file')).toBe(true);
    expect(sel('workspace/app/file', 'file')).toBe(true);
  });

  test("an image-owned migration leaves plugins and global configuration to the target's image, and carries what happened on the home", () => {
    const sel = selectForMigration({ imageOwned: true });
    const keep = ['credentials.xml', 'secret.key', 'org.jenkinsci.plugins.scriptsecurity.scripts.ScriptApproval.xml', 'jobs/app/config.xml', 'jobs/app/nextBuildNumber', 'jobs/app/builds/1/log', 'users/sidecar/config.xml', 'secrets/master.key', 'nodes/agent-1/config.xml'];
    const drop = ['config.xml', 'jenkins.model.JenkinsLocationConfiguration.xml', 'io.jenkins.plugins.casc.CasCGlobalConfig.xml', 'plugins/git.jpi', 'plugins/git.jpi.pinned'];
    for (const p of keep) expect([p, sel(p, 'file')]).toEqual([p, true]);
    for (const p of drop) expect([p, sel(p, 'file')]).toEqual([p, false]);
    expect(sel('plugins', 'directory')).toBe(false);
    const left = leftToImage({ imageOwned: true });
    expect(['config.xml', 'plugins/git.jpi', 'jobs/app/config.xml', 'plugins/git/x'].map((p) => left(p, 'file'))).toEqual(['config.xml', 'plugins', null, null]);
  });

  test("each controller keeps its own coordination node; other nodes go with the migration", () => {
    const sel = selectForMigration({ ownNodes: [coordinationNodeName({ team_name: 'devops' })] });
    for (const p of ['nodes/devops-coordination', 'nodes/devops-coordination/config.xml']) expect([p, sel(p, p.endsWith('.xml') ? 'file' : 'directory')]).toEqual([p, false]);
    for (const p of ['nodes/agent-1/config.xml', 'nodes/other-coordination/config.xml']) expect([p, sel(p, 'file')]).toEqual([p, true]);
    expect(sel('nodes', 'directory')).toBe(true);
  });

  test('the image owns the configuration for every operation but a switch within one image', () => {
    expect(imageOwnsConfiguration('switch', true)).toBe(false);
    expect(imageOwnsConfiguration('switch', false)).toBe(true);
    for (const op of ['version_upgrade', 'plugin_update', 'configuration_change'] as const) expect(imageOwnsConfiguration(op, true)).toBe(true);
  });

  test('backups keep history but not workspaces, caches, logs or exploded plugins', () => {
    const sel = selectForBackup();
    for (const p of ['config.xml', 'jobs/app/builds/1/log', 'jobs/app/config.xml', 'plugins/git.jpi', 'users/a/config.xml', 'fingerprints/aa/bb.xml']) expect([p, sel(p, 'file')]).toEqual([p, true]);
    for (const p of ['workspace/app/x', 'caches/git/HEAD', 'logs/x.log', 'war/WEB-INF/x', 'jobs/app/workspace/f', 'jobs/a/jobs/b/workspace@tmp/f', 'plugins/git/META-INF/x', 'config.xml.tmp']) expect([p, sel(p, 'file')]).toEqual([p, false]);
    expect(sel('plugins/git', 'directory')).toBe(false);
    expect(sel('dev/null', 'other')).toBe(false);
  });
});

describe('build references', () => {
  test('parseBuildRef accepts JOB_NAME#N and job/…#N', () => {
    expect(parseBuildRef('devops/Infrastructure/Self-Managed-Blue-Green-Switch#41')).toEqual({ job: 'devops/Infrastructure/Self-Managed-Blue-Green-Switch', number: 41 });
    expect(parseBuildRef('job/name#12')).toEqual({ job: 'name', number: 12 });
    expect(parseBuildRef('job/a/job/b#3')).toEqual({ job: 'a/b', number: 3 });
    expect(parseBuildRef('nonumber')).toBeNull();
  });
  test('buildRefFromUrl reads executable urls, with or without a context path', () => {
    expect(buildRefFromUrl('http://127.0.0.1:8080/job/a/job/b%20c/12/')).toEqual({ job: 'a/b c', number: 12 });
    expect(buildRefFromUrl('https://ci.example/jenkins/job/app/7/')).toEqual({ job: 'app', number: 7 });
    expect(buildRefFromUrl('http://x/computer/')).toBeNull();
  });
});

describe('assessActivity', () => {
  const exe = (url: string) => ({ idle: false, currentExecutable: { url } });
  const set = (computer: ComputerSet['computer']): ComputerSet => ({ busyExecutors: 0, totalExecutors: 2, computer });
  test('a pipeline on a one-off executor keeps the controller busy although busyExecutors is 0', () => {
    const v = assessActivity(set([{ displayName: 'Built-In Node', offline: false, idle: false, executors: [], oneOffExecutors: [exe('http://h/job/app/5/')] }]), []);
    expect(v).toEqual({ idle: false, running: ['app#5'], queued: [] });
  });
  test('the calling build is not waited for', () => {
    const v = assessActivity(set([{ displayName: 'Built-In Node', offline: false, idle: false, executors: [], oneOffExecutors: [exe('http://h/job/infra/job/switch/41/')] }]), [], 'infra/switch#41');
    expect(v.idle).toBe(true);
  });
  test('a busy computer without visible executables counts as busy; queue items count', () => {
    const v = assessActivity(set([{ displayName: 'agent-1', offline: false, idle: false }]), [{ id: 3, task: { name: 'app' } }]);
    expect(v).toEqual({ idle: false, running: ['busy executor on agent-1'], queued: ['app'] });
  });
});

test('flattenJobs turns the nested tree into full names', () => {
  const jobs = flattenJobs([
    { _class: 'com.cloudbees.hudson.plugins.folder.Folder', name: 'f', url: 'u', jobs: [{ _class: 'org.jenkinsci.plugins.workflow.job.WorkflowJob', name: 'j', url: 'u', color: 'disabled', nextBuildNumber: 4 }] },
    { _class: 'hudson.model.FreeStyleProject', name: 'top', url: 'u', buildable: true },
  ]);
  expect(jobs.map((j) => [j.fullName, j.folder, j.disabled, j.nextBuildNumber])).toEqual([
    ['f', true, false, null],
    ['f/j', false, true, 4],
    ['top', false, false, null],
  ]);
});

test("a migration asked for by a running build leaves that build's directory out, and only it", () => {
  const select = excludingBuild(selectForMigration({}), { job: 'devops/Infrastructure/Switch', number: 41 });
  const dir = 'jobs/devops/jobs/Infrastructure/jobs/Switch/builds';
  expect(select(`${dir}/41`, 'directory')).toBe(false);
  expect(select(`${dir}/41/log`, 'file')).toBe(false);
  expect(select(`${dir}/410/log`, 'file')).toBe(true);
  expect(select(`${dir}/40/log`, 'file')).toBe(true);
  expect(select('jobs/devops/jobs/Infrastructure/jobs/Switch/nextBuildNumber', 'file')).toBe(true);
  expect(excludingBuild(selectForMigration({}), null)(`${dir}/41/log`, 'file')).toBe(true);
});

import { parseTeamsDocument } from '../../catalog/teams-file';
import { controllerContainerSpec } from '../../agent/src/docker/container-spec';
import { LABEL_ENVIRONMENT, LABEL_MANAGED, LABEL_ROLE, LABEL_TEAM, labelsMatch, volumeNameFor } from '../../agent/src/docker/labels';
import { judgeContainerHealth } from '../../agent/src/docker/health';
import type Docker from 'dockerode';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { controllerFileMounts, type ControllerFilesConfig } from '../../agent/src/docker/controller-mounts';
import { checkControllerFiles } from '../../agent/src/environments/controller-files';
import { renderJenkinsYaml } from '../../library-gen/src/render/team-jcasc';
import { DEFAULT_CASC_DIR } from '../../library-gen/src/render/team-files';
import type { Team } from '../../catalog/teams-file';

const team = parseTeamsDocument('jenkins_teams:\n  - team_name: devops\n    image: jenkins-custom-devops:latest\n    web_port: 8080\n    agent_port: 50000\n', 't.yml').teams[0];

describe('controllerContainerSpec', () => {
  test('blue and green: same image, differ only in env, ports and volume (host networking)', () => {
    const blue = controllerContainerSpec({ team, environment: 'blue', image: team.image, networking: { mode: 'host' } });
    const green = controllerContainerSpec({ team, environment: 'green', image: team.image, networking: { mode: 'host' } });
    expect(blue.name).toBe('jenkins-devops-blue');
    expect(green.name).toBe('jenkins-devops-green');
    expect(blue.Image).toBe(green.Image);
    expect(blue.Env).toEqual(['JENKINS_ENVIRONMENT=blue', 'JENKINS_OPTS=--httpPort=8080', 'JENKINS_SLAVE_AGENT_PORT=50000', 'JENKINS_TEAM=devops']);
    expect(green.Env).toEqual(['JENKINS_ENVIRONMENT=green', 'JENKINS_OPTS=--httpPort=8180', 'JENKINS_SLAVE_AGENT_PORT=50100', 'JENKINS_TEAM=devops']);
    expect(green.HostConfig?.NetworkMode).toBe('host');
    expect(green.HostConfig?.Mounts).toEqual([{ Type: 'volume', Source: 'jenkins-devops-green-home', Target: '/var/jenkins_home' }]);
    expect(green.Labels).toEqual({ [LABEL_MANAGED]: 'true', [LABEL_TEAM]: 'devops', [LABEL_ENVIRONMENT]: 'green', [LABEL_ROLE]: 'controller' });
  });

  test('published ports map the container ports to blue/green host ports on the bind address', () => {
    const green = controllerContainerSpec({ team, environment: 'green', image: 'x:1', networking: { mode: 'published', bindAddress: '127.0.0.1', containerWebPort: 8080, containerAgentPort: 50000 } });
    expect(green.HostConfig?.PortBindings).toEqual({ '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '8180' }], '50000/tcp': [{ HostIp: '127.0.0.1', HostPort: '50100' }] });
    expect(green.Env).toEqual(['JENKINS_ENVIRONMENT=green', 'JENKINS_TEAM=devops']);
    expect(green.HostConfig?.NetworkMode).toBeUndefined();
  });

  test('extra env never overrides the environment identity', () => {
    const s = controllerContainerSpec({ team, environment: 'blue', image: 'x:1', networking: { mode: 'host' }, extraEnv: { JENKINS_ENVIRONMENT: 'green', CASC_JENKINS_CONFIG: '/casc' } });
    expect(s.Env).toContain('JENKINS_ENVIRONMENT=blue');
    expect(s.Env).toContain('CASC_JENKINS_CONFIG=/casc');
  });
});

const files: ControllerFilesConfig = { secretsRoot: '/etc/jenkins-selfmanage/teams', libraryDir: null };
const parseTeam = (yaml: string): Team => {
  const r = parseTeamsDocument(`jenkins_teams:\n${yaml}`, 't.yml');
  if (r.errors.length) throw new Error(r.errors.join('\n'));
  return r.teams[0];
};

/** Every path the rendered jenkins.yaml makes the controller read from its filesystem. */
function pathsJenkinsYamlReads(team: Team): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key: string): void => {
    if (typeof v === 'string') {
      for (const m of v.matchAll(/\$\{readFile:([^}]+)\}/g)) out.push(m[1]);
      if (key === 'remote' && v.startsWith('file://')) out.push(v.slice('file://'.length));
    } else if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(parseYaml(renderJenkinsYaml(team, { cascDir: DEFAULT_CASC_DIR })), '');
  return [...new Set(out)].sort();
}

describe('controller files (secrets, file:// library)', () => {
  test('deploy mounts exactly the paths the rendered jenkins.yaml reads (defaults)', () => {
    const mounts = controllerFileMounts(team, files);
    expect(mounts.map((m) => m.target).sort()).toEqual(pathsJenkinsYamlReads(team));
    expect(mounts).toEqual([
      { kind: 'secret', field: 'secrets.admin_password', source: '/etc/jenkins-selfmanage/teams/devops/secrets/jenkins-admin-password', target: '/run/secrets/jenkins-admin-password' },
      { kind: 'secret', field: 'secrets.service_password', source: '/etc/jenkins-selfmanage/teams/devops/secrets/jenkins-service-password', target: '/run/secrets/jenkins-service-password' },
      { kind: 'secret', field: 'secrets.sidecar_token', source: '/etc/jenkins-selfmanage/teams/devops/secrets/sidecar-token', target: '/run/secrets/sidecar-token' },
      { kind: 'library', field: 'shared_library.scm_url', source: '/var/lib/jenkins-selfmanage/library.git', target: '/var/lib/jenkins-selfmanage/library.git' },
    ]);
  });

  test('teams-file overrides move the targets with jenkins.yaml; env secrets and remote libraries need no mount', () => {
    const custom = parseTeam(
      [
        '  - team_name: web',
        '    shared_library: { scm_url: "file:///srv/git/jsm.git" }',
        '    secrets:',
        '      admin_password: { file: /var/run/jsm/admin }',
        '      service_password: { env: JENKINS_SERVICE_PASSWORD }',
        '      sidecar_token: { file: /run/secrets/token-web }',
      ].join('\n'),
    );
    const mounts = controllerFileMounts(custom, { secretsRoot: '/srv/secrets', libraryDir: '/opt/generated' });
    expect(mounts.map((m) => m.target).sort()).toEqual(pathsJenkinsYamlReads(custom));
    expect(mounts.map((m) => [m.source, m.target])).toEqual([
      ['/srv/secrets/web/secrets/admin', '/var/run/jsm/admin'],
      ['/srv/secrets/web/secrets/token-web', '/run/secrets/token-web'],
      ['/opt/generated', '/srv/git/jsm.git'],
    ]);
    const remote = parseTeam('  - team_name: api\n    shared_library: { scm_url: "https://git.example.com/jsm.git" }\n');
    expect(controllerFileMounts(remote, files).map((m) => m.kind)).toEqual(['secret', 'secret', 'secret']);
    expect(pathsJenkinsYamlReads(remote)).toEqual(controllerFileMounts(remote, files).map((m) => m.target).sort());
  });

  test('the spec bind-mounts them read-only next to the home volume', () => {
    const spec = controllerContainerSpec({ team, environment: 'green', image: 'x:1', networking: { mode: 'host' }, fileMounts: controllerFileMounts(team, files) });
    expect(spec.HostConfig?.Mounts).toEqual([
      { Type: 'volume', Source: 'jenkins-devops-green-home', Target: '/var/jenkins_home' },
      { Type: 'bind', Source: '/etc/jenkins-selfmanage/teams/devops/secrets/jenkins-admin-password', Target: '/run/secrets/jenkins-admin-password', ReadOnly: true },
      { Type: 'bind', Source: '/etc/jenkins-selfmanage/teams/devops/secrets/jenkins-service-password', Target: '/run/secrets/jenkins-service-password', ReadOnly: true },
      { Type: 'bind', Source: '/etc/jenkins-selfmanage/teams/devops/secrets/sidecar-token', Target: '/run/secrets/sidecar-token', ReadOnly: true },
      { Type: 'bind', Source: '/var/lib/jenkins-selfmanage/library.git', Target: '/var/lib/jenkins-selfmanage/library.git', ReadOnly: true },
    ]);
  });

  test('two secrets reading one file share a mount; two paths with one file name, ".." and odd roots are refused', () => {
    const same = parseTeam('  - team_name: one\n    secrets: { admin_password: { file: /run/secrets/pw }, service_password: { file: /run/secrets/pw } }\n');
    expect(controllerFileMounts(same, files).filter((m) => m.kind === 'secret').map((m) => m.target)).toEqual(['/run/secrets/pw', '/run/secrets/sidecar-token']);
    const clash = parseTeam('  - team_name: two\n    secrets: { admin_password: { file: /a/pw }, service_password: { file: /b/pw } }\n');
    expect(() => controllerFileMounts(clash, files)).toThrow(expect.objectContaining({ code: 'CONFLICT', data: expect.objectContaining({ reason: 'invalid_team_config' }), message: expect.stringContaining("share the file name 'pw'") }));
    const dotdot = parseTeam('  - team_name: three\n    secrets: { admin_password: { file: /run/secrets/../../etc/shadow } }\n');
    expect(() => controllerFileMounts(dotdot, files)).toThrow(expect.objectContaining({ code: 'CONFLICT', data: expect.objectContaining({ reason: 'invalid_team_config' }) }));
    expect(() => controllerFileMounts(team, { secretsRoot: '/etc/x y', libraryDir: null })).toThrow(expect.objectContaining({ code: 'CONFLICT', data: expect.objectContaining({ reason: 'invalid_team_config' }) }));
    expect(() => controllerFileMounts(team, { secretsRoot: '/etc', libraryDir: '/srv/../etc' })).toThrow(expect.objectContaining({ code: 'CONFLICT', data: expect.objectContaining({ reason: 'invalid_team_config' }) }));
    expect(() => controllerFileMounts({ ...team, team_name: '../x' }, files)).toThrow(expect.objectContaining({ code: 'CONFLICT', data: expect.objectContaining({ reason: 'invalid_team_config' }) }));
  });

  describe('checkControllerFiles (real files in a temp dir)', () => {
    let dir: string;
    let cfg: ControllerFilesConfig;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'jsm-ctlfiles-'));
      cfg = { secretsRoot: join(dir, 'teams'), libraryDir: join(dir, 'library.git') };
      mkdirSync(join(dir, 'teams', 'devops', 'secrets'), { recursive: true });
      mkdirSync(join(dir, 'library.git'));
      for (const f of ['jenkins-admin-password', 'jenkins-service-password', 'sidecar-token']) writeFileSync(join(dir, 'teams', 'devops', 'secrets', f), 's3cret\n', { mode: 0o640 });
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const secret = (f: string): string => join(dir, 'teams', 'devops', 'secrets', f);

    test('all present, non-empty, not world-readable: accepted', async () => {
      await expect(checkControllerFiles('devops', controllerFileMounts(team, cfg))).resolves.toBeUndefined();
    });
    test('a missing secret: NOT_FOUND with the exact path and the command that creates it', async () => {
      rmSync(secret('jenkins-admin-password'));
      const err = checkControllerFiles('devops', controllerFileMounts(team, cfg));
      await expect(err).rejects.toMatchObject({ code: 'NOT_FOUND', data: { path: secret('jenkins-admin-password'), target: '/run/secrets/jenkins-admin-password' } });
      await expect(err).rejects.toThrow(`create it: install -d -m 0750 -g 1000 ${join(dir, 'teams', 'devops', 'secrets')} && (umask 077; head -c 32 /dev/urandom | base64 > ${secret('jenkins-admin-password')})`);
    });
    test('an empty or world-readable secret: CONFLICT naming the file', async () => {
      writeFileSync(secret('sidecar-token'), '');
      await expect(checkControllerFiles('devops', controllerFileMounts(team, cfg))).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'controller_file_unusable' }, message: expect.stringContaining(`${secret('sidecar-token')} is empty`) });
      writeFileSync(secret('sidecar-token'), 'x');
      chmodSync(secret('sidecar-token'), 0o644);
      await expect(checkControllerFiles('devops', controllerFileMounts(team, cfg))).rejects.toMatchObject({
        code: 'CONFLICT',
        message: expect.stringContaining(`readable by every user (mode 644, secrets.sidecar_token); fix it: chgrp 1000 ${secret('sidecar-token')} && chmod 0640`),
      });
    });
    test('a missing library repository: NOT_FOUND naming it', async () => {
      rmSync(join(dir, 'library.git'), { recursive: true });
      await expect(checkControllerFiles('devops', controllerFileMounts(team, cfg))).rejects.toMatchObject({ code: 'NOT_FOUND', data: { path: join(dir, 'library.git'), field: 'shared_library.scm_url' } });
    });
  });
});

describe('labels', () => {
  test('labelsMatch needs the managed flag, the team and the environment', () => {
    const ok = { [LABEL_MANAGED]: 'true', [LABEL_TEAM]: 'devops', [LABEL_ENVIRONMENT]: 'blue' };
    expect(labelsMatch(ok, 'devops', 'blue')).toBe(true);
    expect(labelsMatch(ok, 'devops', 'green')).toBe(false);
    expect(labelsMatch(ok, 'other', 'blue')).toBe(false);
    expect(labelsMatch({ ...ok, [LABEL_MANAGED]: 'false' }, 'devops', 'blue')).toBe(false);
    expect(labelsMatch(undefined, 'devops', 'blue')).toBe(false);
    expect(volumeNameFor('devops', 'green')).toBe('jenkins-devops-green-home');
  });
});

describe('judgeContainerHealth', () => {
  const info = (state: Partial<Docker.ContainerInspectInfo['State']>) => ({ State: state }) as Docker.ContainerInspectInfo;
  test('Docker health status wins when the image has a check', () => {
    expect(judgeContainerHealth(info({ Running: true, Health: { Status: 'healthy', FailingStreak: 0, Log: [] } }), null)).toEqual({ state: 'healthy' });
    const v = judgeContainerHealth(info({ Running: true, Health: { Status: 'starting', FailingStreak: 1, Log: [{ Start: '', End: '', ExitCode: 1, Output: 'refused' }] } }), true);
    expect(v).toEqual({ state: 'waiting', detail: 'docker health starting (last check exit 1: refused)' });
  });
  test('without a check the HTTP probe decides', () => {
    expect(judgeContainerHealth(info({ Running: true }), true)).toEqual({ state: 'healthy' });
    expect(judgeContainerHealth(info({ Running: true }), false).state).toBe('waiting');
  });
  test('an exited container fails at once; a created one is still waited for', () => {
    expect(judgeContainerHealth(info({ Running: false, Status: 'exited', ExitCode: 1 }), null)).toEqual({ state: 'failed', detail: 'container is exited (exit code 1)' });
    expect(judgeContainerHealth(info({ Running: false, Status: 'created' }), null).state).toBe('waiting');
  });
});

test('a crash loop behind a restart policy is a failure, not a wait', () => {
  const looping = { RestartCount: 3, State: { Running: false, Restarting: true, Status: 'restarting', ExitCode: 1 } } as unknown as Docker.ContainerInspectInfo;
  expect(judgeContainerHealth(looping, null)).toEqual({ state: 'failed', detail: 'container keeps crashing (3 restarts, last exit code 1)' });
  const recovered = { RestartCount: 5, State: { Running: true, Health: { Status: 'healthy', FailingStreak: 0, Log: [] } } } as unknown as Docker.ContainerInspectInfo;
  expect(judgeContainerHealth(recovered, null)).toEqual({ state: 'healthy' });
});

import { parseTeamsDocument } from '../../catalog/teams-file';
import { controllerContainerSpec } from '../../agent/src/docker/container-spec';
import { LABEL_ENVIRONMENT, LABEL_MANAGED, LABEL_ROLE, LABEL_TEAM, labelsMatch, volumeNameFor } from '../../agent/src/docker/labels';
import { judgeContainerHealth } from '../../agent/src/docker/health';
import type Docker from 'dockerode';

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

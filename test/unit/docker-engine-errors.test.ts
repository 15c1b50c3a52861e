import { describeDockerError, dockerDown } from '../../agent/src/docker/containers';

// Shaped like the errors Node's net module gives dockerode for a unix socket (code, syscall, address).
const netError = (code: string, address: string): Error => Object.assign(new Error(`connect ${code} ${address}`), { errno: -2, code, syscall: 'connect', address });

describe('describeDockerError', () => {
  test('a stopped engine (socket gone or refusing) is named as such, with the socket', () => {
    expect(describeDockerError(netError('ENOENT', '/run/docker.sock'))).toBe('no Docker socket at /run/docker.sock (the engine is stopped or restarting)');
    expect(describeDockerError(netError('ECONNREFUSED', '/run/docker.sock'))).toBe('connection refused at /run/docker.sock (the engine is stopped or restarting)');
    expect(describeDockerError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', address: '127.0.0.1', port: 2375 }))).toBe(
      'connection refused at 127.0.0.1:2375 (the engine is stopped or restarting)',
    );
  });

  test('permission and mid-shutdown errors say what to check; anything else keeps its own message', () => {
    expect(describeDockerError(netError('EACCES', '/run/docker.sock'))).toMatch(/^permission denied on \/run\/docker.sock .*docker group/);
    expect(describeDockerError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toMatch(/closed the connection \(ECONNRESET; it may be shutting down\)/);
    expect(describeDockerError(new Error('(HTTP code 500) server error - boom'))).toBe('(HTTP code 500) server error - boom');
    expect(describeDockerError('text')).toBe('text');
  });
});

test('dockerDown: DEPENDENCY_DOWN naming the action, the cause in words, what to check and that a retry is enough', () => {
  const e = dockerDown('inspect container jenkins-devops-green', netError('ENOENT', '/tmp/jd-1/d.sock'));
  expect(e.code).toBe('DEPENDENCY_DOWN');
  expect(e.message).toBe(
    'Docker engine: inspect container jenkins-devops-green failed: no Docker socket at /tmp/jd-1/d.sock (the engine is stopped or restarting); check that dockerd is running and DOCKER_HOST points at it, then retry (the sidecar reconnects by itself; /readyz shows docker up again)',
  );
  expect(e.data).toEqual({ action: 'inspect container jenkins-devops-green', errno: 'ENOENT' });
  expect(dockerDown('ping', new Error('x')).data).toEqual({ action: 'ping' });
});

import type { Stats } from 'node:fs';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { controllerEnvSecrets, controllerRuntime, dockerSocketPath } from '../../agent/src/environments/controller-runtime';

const cfg = { secretsRoot: '/srv/secrets', libraryDir: null };
function team(lines: string[]): Team {
  const { teams, errors } = parseTeamsDocument(['jenkins_teams:', '  - team_name: devops', ...lines].join('\n'), 't.yml');
  expect(errors).toEqual([]);
  return teams[0];
}
const stats = (o: { file?: boolean; socket?: boolean; gid?: number; mode?: number; size?: number }): Stats =>
  ({ isFile: () => !!o.file, isDirectory: () => false, isSocket: () => !!o.socket, size: o.size ?? 10, mode: o.mode ?? 0o100600, uid: 0, gid: o.gid ?? 0 }) as unknown as Stats;
const envTeam = team(['    secrets:', '      sidecar_token: { env: SIDECAR_TOKEN }', '      admin_password: { env: SIDECAR_TOKEN }']);

describe('what deploy gives a controller at run time', () => {
  it('one variable per {env: NAME}, read from <root>/<team>/secrets/NAME', () => {
    expect(controllerEnvSecrets(envTeam, cfg)).toEqual([{ field: 'secrets.admin_password', name: 'SIDECAR_TOKEN', source: '/srv/secrets/devops/secrets/SIDECAR_TOKEN' }]);
    expect(controllerEnvSecrets(team([]), cfg)).toEqual([]);
  });

  it('drops one trailing newline and refuses a value of several lines', async () => {
    const io = (text: string) => ({ statFile: async () => stats({ file: true }), readText: async () => text });
    await expect(controllerRuntime(envTeam, cfg, undefined, io('tok\n'))).resolves.toEqual({ env: { SIDECAR_TOKEN: 'tok' }, mounts: [], groupAdd: [] });
    await expect(controllerRuntime(envTeam, cfg, undefined, io('a\nb\n'))).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'controller_file_unusable' }, message: expect.stringContaining('must hold one line') });
  });

  it('mounts the socket only when asked, for a unix:// cloud, with the socket group; refuses what is not a socket', async () => {
    expect(dockerSocketPath(team([]))).toBeNull();
    expect(dockerSocketPath(team(['    dynamic_agents:', '      mount_docker_socket: true', '      docker_host: tcp://docker:2376']))).toBeNull();
    expect(dockerSocketPath(team(['    dynamic_agents:', '      mount_docker_socket: true', '    jenkins_configuration:', '      dynamic_agents: false']))).toBeNull();
    const asked = team(['    dynamic_agents:', '      mount_docker_socket: true']);
    expect(dockerSocketPath(asked)).toBe('/var/run/docker.sock');
    await expect(controllerRuntime(asked, undefined, undefined, { statFile: async () => stats({ socket: true, gid: 998 }) })).resolves.toEqual({
      env: {},
      mounts: [{ source: '/var/run/docker.sock', target: '/var/run/docker.sock', readOnly: false }],
      groupAdd: ['998'],
    });
    await expect(controllerRuntime(asked, undefined, undefined, { statFile: async () => stats({ file: true }) })).rejects.toMatchObject({ code: 'CONFLICT', data: { reason: 'controller_file_unusable' }, message: expect.stringContaining('is not a socket') });
    expect(() => dockerSocketPath(team(['    dynamic_agents:', '      mount_docker_socket: true', '      docker_host: unix:///var/run/../../etc/docker.sock']))).toThrow('not a plain absolute path');
  });
});

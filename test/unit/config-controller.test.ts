import { resolveConfig } from '../../agent/src/config/sidecar-config';

// The controller keys of the sidecar config: published networking and where the controllers' files live.
const host = { hostname: 'ci-host-1', homeDir: '/home/jenkins', isRoot: false, cwd: '/srv' };

describe('controller networking', () => {
  test('host networking by default', () => {
    expect(resolveConfig({}, host).config?.controllerNetworking).toEqual({ mode: 'host' });
  });
  test('published from the environment, with the container ports and bind address', () => {
    const r = resolveConfig({ SIDECAR_CONTROLLER_NETWORKING: 'published', SIDECAR_CONTROLLER_BIND_ADDRESS: '127.0.0.2', SIDECAR_CONTROLLER_WEB_PORT: '8081' }, host);
    expect(r.errors).toEqual([]);
    expect(r.config?.controllerNetworking).toEqual({ mode: 'published', bindAddress: '127.0.0.2', containerWebPort: 8081, containerAgentPort: 50000 });
  });
  test('published from the config file (the environment wins)', () => {
    const text = 'controller:\n  networking: published\n  web_port: 8080\n  agent_port: 50001\n';
    const r = resolveConfig({ SIDECAR_CONTROLLER_BIND_ADDRESS: '127.0.0.1' }, host, { path: '/etc/sidecar.yml', text });
    expect(r.config?.controllerNetworking).toEqual({ mode: 'published', bindAddress: '127.0.0.1', containerWebPort: 8080, containerAgentPort: 50001 });
  });
  test('bad values are errors naming the variable', () => {
    expect(resolveConfig({ SIDECAR_CONTROLLER_NETWORKING: 'bridge' }, host).errors).toEqual(["SIDECAR_CONTROLLER_NETWORKING: expected host or published, got 'bridge'"]);
    expect(resolveConfig({ SIDECAR_CONTROLLER_NETWORKING: 'published', SIDECAR_CONTROLLER_BIND_ADDRESS: '127.0.0.1; rm' }, host).errors).toEqual([
      "SIDECAR_CONTROLLER_BIND_ADDRESS: expected an IPv4 address such as 127.0.0.1, got '127.0.0.1; rm'",
    ]);
    expect(resolveConfig({ SIDECAR_CONTROLLER_NETWORKING: 'published', SIDECAR_CONTROLLER_AGENT_PORT: '8080' }, host).errors).toEqual([
      'SIDECAR_CONTROLLER_WEB_PORT and SIDECAR_CONTROLLER_AGENT_PORT must differ (both 8080)',
    ]);
    expect(resolveConfig({}, host, { path: 'c.yml', text: 'controller:\n  networking: bridge\n' }).errors[0]).toMatch(/^c\.yml: controller\.networking: /);
  });
});

describe('controller files', () => {
  test('defaults: /etc/jenkins-selfmanage/teams as root, under HOME otherwise; the library at its file:// path', () => {
    expect(resolveConfig({}, { ...host, isRoot: true }).config?.controllerFiles).toEqual({ secretsRoot: '/etc/jenkins-selfmanage/teams', libraryDir: null });
    expect(resolveConfig({}, host).config?.controllerFiles).toEqual({ secretsRoot: '/home/jenkins/.jenkins-selfmanage/teams', libraryDir: null });
  });
  test('set from the environment or the file; relative paths resolve against the working directory', () => {
    const r = resolveConfig({ SIDECAR_CONTROLLER_SECRETS_ROOT: 'secrets/' }, host, { path: 'c.yml', text: 'controller:\n  library_dir: /var/lib/jsm/generated\n' });
    expect(r.config?.controllerFiles).toEqual({ secretsRoot: '/srv/secrets', libraryDir: '/var/lib/jsm/generated' });
  });
  test('paths a bind mount could misread are refused', () => {
    expect(resolveConfig({ SIDECAR_CONTROLLER_SECRETS_ROOT: '/etc/x y' }, host).errors).toEqual(["SIDECAR_CONTROLLER_SECRETS_ROOT: expected an absolute path of [A-Za-z0-9_./-] without '..', got '/etc/x y'"]);
    expect(resolveConfig({ SIDECAR_CONTROLLER_LIBRARY_DIR: '/srv/a:/etc' }, host).errors).toHaveLength(1);
  });
});

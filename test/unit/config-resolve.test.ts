import { parseHaproxyEndpoint, parseListen, resolveConfig } from '../../agent/src/config/sidecar-config';
import { parseTokensDocument } from '../../agent/src/config/tokens-file';

const host = { hostname: 'ci-host-1', homeDir: '/home/jenkins', isRoot: false, cwd: '/srv' };
const HASH = 'a'.repeat(64);

describe('resolveConfig', () => {
  it('applies the documented defaults with no environment', () => {
    const r = resolveConfig({}, host);
    expect(r.errors).toEqual([]);
    expect(r.config).toMatchObject({
      listen: { host: '127.0.0.1', port: 8765 },
      databaseUrl: null,
      dataDir: '/home/jenkins/.jenkins-sidecar',
      haproxySocket: null,
      dockerHost: null,
      instanceId: 'ci-host-1',
      teamsFile: null,
      tokensFile: null,
    });
    expect(r.warnings.join('\n')).toMatch(/SIDECAR_TOKENS_FILE is not set: an ops token is generated into \/home\/jenkins\/.jenkins-sidecar\/ops-token/);
    expect(r.warnings.join('\n')).toMatch(/SIDECAR_HAPROXY_SOCKET is not set/);
  });

  it('uses /var/lib/jenkins-sidecar as root', () => {
    expect(resolveConfig({}, { ...host, isRoot: true }).config?.dataDir).toBe('/var/lib/jenkins-sidecar');
  });

  it('reads every documented variable, relative paths against the working directory', () => {
    const r = resolveConfig(
      {
        SIDECAR_LISTEN: '0.0.0.0:9000',
        SIDECAR_DATABASE_URL: 'postgres://u:p@db:5432/coord',
        SIDECAR_DATA_DIR: 'data',
        SIDECAR_HAPROXY_SOCKET: '/run/haproxy/admin.sock',
        DOCKER_HOST: 'unix:///var/run/docker.sock',
        SIDECAR_INSTANCE_ID: 'sidecar-a',
        SIDECAR_TEAMS_FILE: 'teams.yml',
        SIDECAR_TOKENS_FILE: '/etc/jenkins-sidecar/tokens.yml',
      },
      host,
    );
    expect(r.errors).toEqual([]);
    expect(r.config).toMatchObject({
      listen: { host: '0.0.0.0', port: 9000 },
      databaseUrl: 'postgres://u:p@db:5432/coord',
      dataDir: '/srv/data',
      haproxySocket: { kind: 'unix', path: '/run/haproxy/admin.sock' },
      dockerHost: 'unix:///var/run/docker.sock',
      instanceId: 'sidecar-a',
      teamsFile: '/srv/teams.yml',
      tokensFile: '/etc/jenkins-sidecar/tokens.yml',
    });
  });

  it('lets the environment win over the --config file and reads the file for the rest', () => {
    const r = resolveConfig({ SIDECAR_LISTEN: '127.0.0.1:7000' }, host, {
      path: '/etc/sidecar.yml',
      text: 'listen: 127.0.0.1:7100\ninstance_id: from-file\nlimits:\n  max_in_flight_per_token: 4\n',
    });
    expect(r.config?.listen.port).toBe(7000);
    expect(r.config?.instanceId).toBe('from-file');
    expect(r.config?.limits.maxInFlightPerToken).toBe(4);
  });

  it('reports one line per problem, naming where it came from', () => {
    const r = resolveConfig(
      { SIDECAR_LISTEN: 'nonsense', SIDECAR_DATABASE_URL: 'mysql://x', SIDECAR_INSTANCE_ID: 'bad id;', SIDECAR_HEARTBEAT_SEC: '0', DOCKER_HOST: '/var/run/docker.sock' },
      host,
    );
    expect(r.config).toBeNull();
    expect(r.errors).toEqual([
      "SIDECAR_LISTEN: expected host:port (e.g. 127.0.0.1:8765), got 'nonsense'",
      'SIDECAR_DATABASE_URL: expected postgresql://user:password@host:port[,host:port...]/database[?target_session_attrs=read-write]',
      "DOCKER_HOST: expected unix:///path/docker.sock or tcp://host:port, got '/var/run/docker.sock'",
      "SIDECAR_INSTANCE_ID: instance id 'bad id;' must be 1-100 characters of [A-Za-z0-9_.:-]; set SIDECAR_INSTANCE_ID",
      "SIDECAR_HEARTBEAT_SEC: expected an integer from 1 to 300, got '0'",
    ]);
  });

  it('takes several database hosts in libpq form, and warns when nothing says which one is writable', () => {
    const ok = resolveConfig({ SIDECAR_DATABASE_URL: 'postgresql://jsm@db1:5432,db2:5432/jsm?target_session_attrs=read-write' }, host);
    expect(ok.errors).toEqual([]);
    expect(ok.config?.databaseUrl).toBe('postgresql://jsm@db1:5432,db2:5432/jsm?target_session_attrs=read-write');
    expect(ok.warnings.filter((w) => w.includes('SIDECAR_DATABASE_URL'))).toEqual([]);
    const any = resolveConfig({ SIDECAR_DATABASE_URL: 'postgresql://jsm@db1,db2/jsm' }, host);
    expect(any.warnings).toContain(
      'SIDECAR_DATABASE_URL: 2 hosts without target_session_attrs: the sidecar takes the first that answers, as libpq does, even a standby; add ?target_session_attrs=read-write',
    );
  });

  it('refuses unknown keys in the --config file', () => {
    const r = resolveConfig({}, host, { path: 'c.yml', text: 'lisen: 1\n' });
    expect(r.errors).toEqual(['c.yml: top level: Unrecognized key: "lisen"']);
  });

  it('parses listen and HAProxy endpoints', () => {
    expect(parseListen('9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseListen('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(parseListen('h:70000')).toBe('port 70000 is out of range');
    expect(parseHaproxyEndpoint('127.0.0.1:9999', '/x')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 9999 });
    expect(parseHaproxyEndpoint('unix:run/admin.sock', '/x')).toEqual({ kind: 'unix', path: '/x/run/admin.sock' });
    expect(parseHaproxyEndpoint('admin sock', '/x')).toMatch(/expected a unix socket path or host:port/);
  });
});

describe('parseTokensDocument', () => {
  it('reads tokens, lower-cases hashes, and knows ops tokens', () => {
    const r = parseTokensDocument(`tokens:\n  - {id: ops, sha256: ${'B'.repeat(64)}, teams: ["*"]}\n  - {id: devops-ci, sha256: ${HASH}, teams: [devops]}\n`, 't.yml', 0o600);
    expect(r.errors).toEqual([]);
    expect(r.tokens).toEqual([
      { id: 'ops', sha256: 'b'.repeat(64), teams: ['*'] },
      { id: 'devops-ci', sha256: HASH, teams: ['devops'] },
    ]);
  });

  it('refuses a world-readable file and says how to fix it', () => {
    const r = parseTokensDocument(`tokens:\n  - {id: ops, sha256: ${HASH}, teams: ["*"]}\n`, '/etc/t.yml', 0o644);
    expect(r.tokens).toEqual([]);
    expect(r.errors).toEqual(["/etc/t.yml: is readable or writable by everyone (mode 644); run 'chmod 600 /etc/t.yml'"]);
  });

  it('names each bad field, duplicate ids and duplicate secrets', () => {
    expect(parseTokensDocument(`tokens:\n  - {id: a, sha256: xyz, teams: []}\n`, 't', 0o600).errors).toEqual([
      't: tokens.0.sha256: expected 64 hex digits (sha256sum of the token)',
      't: tokens.0.teams: list at least one team, or ["*"] for an ops token',
    ]);
    expect(parseTokensDocument(`tokens:\n  - {id: a, sha256: ${HASH}, teams: [x]}\n  - {id: a, sha256: ${HASH}, teams: ["*", y]}\n`, 't', 0o600).errors).toEqual([
      't: tokens.1.id: a is defined more than once',
      't: tokens.1.sha256: the same secret is listed twice (token a)',
      't: tokens.1.teams: "*" already means every team; list it alone',
    ]);
  });
});

import { loadTemplates } from '../../library-gen/src/template-source';
import { verifyTeamsText } from '../../library-gen/src/verify/verify-command';
import type { ConfigResult, SidecarConfig } from '../../agent/src/config/sidecar-config';
import { exitCodeFor, formatReport } from '../../agent/src/doctor/check-result';
import { runDoctor } from '../../agent/src/doctor/doctor';
import { controllerCanRead } from '../../agent/src/doctor/controller-file-checks';
import type { DoctorProbes, FileFacts } from '../../agent/src/doctor/probes';
import { checkHaproxy, checkPostgres, checkVersions } from '../../agent/src/doctor/service-checks';
import type { ControllerFileMount } from '../../agent/src/docker/controller-mounts';
import { controllerFileVerdict, createSecretCommand, verdictError, type HostFileFacts } from '../../agent/src/environments/controller-files';

const errno = (code: string, message = code): Error => Object.assign(new Error(message), { code });

function config(over: Partial<SidecarConfig> = {}): SidecarConfig {
  return {
    listen: { host: '127.0.0.1', port: 8765 },
    databaseUrl: 'postgres://sidecar:secret@db:5432/coord',
    dataDir: '/var/lib/jenkins-sidecar',
    haproxySocket: { kind: 'unix', path: '/run/haproxy/admin.sock' },
    dockerHost: null,
    instanceId: 'host-1',
    teamsFile: null,
    tokensFile: '/etc/jenkins-sidecar/tokens.yml',
    logLevel: 'info',
    limits: { maxPayloadBytes: 1 << 20, maxConnectionsPerToken: 64, maxInFlightPerToken: 32 },
    heartbeatSec: 5,
    liveWithinSec: 15,
    shutdownGraceSec: 20,
    databaseAnswerTimeoutSec: 10,
    haproxyFrontend: null,
    allowedHosts: [],
    controllerNetworking: { mode: 'host' },
    controllerFiles: { secretsRoot: '/etc/jenkins-selfmanage/teams', libraryDir: null },
    ...over,
  };
}

const TOKENS = `tokens:\n  - id: ops\n    sha256: ${'a'.repeat(64)}\n    teams: ["*"]\n`;

/** A fake file: the type bits of `mode` say file, directory or socket; owner root:root and size 1 unless given. */
interface FakeFile {
  mode: number;
  text?: string;
  uid?: number;
  gid?: number;
  size?: number;
  /** stat throws this code instead of answering. */
  error?: string;
}

const factsOf = (f: FakeFile): FileFacts => ({
  mode: f.mode,
  uid: f.uid ?? 0,
  gid: f.gid ?? 0,
  isFile: (f.mode & 0o170000) === 0o100000,
  isDirectory: (f.mode & 0o170000) === 0o040000,
  size: f.size ?? f.text?.length ?? 1,
});

/** A healthy host; each test breaks one thing. */
function probes(over: Partial<DoctorProbes> = {}, files: Record<string, FakeFile> = {}): DoctorProbes {
  const all: Record<string, FakeFile> = {
    '/etc/jenkins-sidecar/tokens.yml': { mode: 0o100640, text: TOKENS },
    '/run/haproxy/admin.sock': { mode: 0o140660 },
    ...files,
  };
  return {
    stat: (p) => {
      if (all[p]?.error) throw errno(all[p].error as string);
      return all[p] ? factsOf(all[p]) : null;
    },
    readText: (p) => {
      if (all[p]?.text === undefined) throw errno('ENOENT');
      return all[p].text as string;
    },
    postgres: async () => ({
      before: new Date(1_000_000),
      after: new Date(1_000_010),
      dbNow: new Date(1_000_005),
      version: 'PostgreSQL 17.10 on x86_64-pc-linux-gnu',
      versionNum: 170010,
    }),
    embeddedPostgres: () => 'postgres (PostgreSQL) 17.10',
    haproxy: async (_t, line) => (line === 'show info' ? 'Name: HAProxy\nVersion: 2.6.12\n' : line === 'show cli level' ? 'admin\n' : '\n'),
    docker: async () => ({ version: '26.1.5', apiVersion: '1.45', managedContainers: 2 }),
    sidecar: async () => ({ status: 200, body: 'ready' }),
    // library-gen verify itself, on the fake file's text (the host runs the same as its own program).
    conformance: (file) => verifyTeamsText(all[file]?.text ?? '', file, loadTemplates()).byTeam,
    nodeVersion: 'v20.20.2',
    sidecarVersion: '0.1.0',
    ...over,
  };
}

const loaded = (c: SidecarConfig = config(), warnings: string[] = []): ConfigResult => ({ config: c, warnings, errors: [] });

describe('sidecarctl doctor checks', () => {
  it('passes a healthy host with exit 0', async () => {
    const results = await runDoctor(loaded(), 'the environment', probes());
    expect(results.map((r) => `${r.name}:${r.status}`)).toEqual([
      'config:ok',
      'versions:ok',
      'tokens file:ok',
      'teams file:skip',
      'postgres:ok',
      'clock skew:ok',
      'haproxy:ok',
      'docker:ok',
      'sidecar:ok',
    ]);
    expect(exitCodeFor(results)).toBe(0);
    expect(formatReport(results)).toContain('no problems found');
  });

  it('fails a world-readable tokens file and says how to fix it', async () => {
    const results = await runDoctor(loaded(), 'env', probes({}, { '/etc/jenkins-sidecar/tokens.yml': { mode: 0o100644, text: TOKENS } }));
    const r = results.find((x) => x.name === 'tokens file');
    expect(r?.status).toBe('fail');
    expect(r?.summary).toContain('mode 644');
    expect(r?.fix).toContain('chmod o-rwx /etc/jenkins-sidecar/tokens.yml');
    expect(exitCodeFor(results)).toBe(1);
  });

  it('fails a world-readable Jenkins API token named by the teams file', async () => {
    const teams = 'jenkins_teams:\n  - team_name: devops\n    jenkins_token_file: /etc/jenkins-sidecar/devops.token\n';
    const results = await runDoctor(
      loaded(config({ teamsFile: '/etc/jenkins-sidecar/teams.yml' })),
      'env',
      probes({}, { '/etc/jenkins-sidecar/teams.yml': { mode: 0o100644, text: teams }, '/etc/jenkins-sidecar/devops.token': { mode: 0o100604 } }),
    );
    const r = results.find((x) => x.name === 'jenkins token of devops');
    expect(r).toMatchObject({ status: 'fail', fix: expect.stringContaining('chmod o-rwx /etc/jenkins-sidecar/devops.token') });
  });

  it('fails a missing HAProxy socket with the stats socket line to add', async () => {
    const r = await checkHaproxy(config({ haproxySocket: { kind: 'unix', path: '/run/haproxy/gone.sock' } }), probes());
    expect(r.status).toBe('fail');
    expect(r.summary).toBe('the Runtime API socket /run/haproxy/gone.sock does not exist');
    expect(r.fix).toContain('stats socket /run/haproxy/gone.sock mode 660 level admin');
  });

  it('fails a socket below admin level and a socket nobody listens on', async () => {
    const operator = await checkHaproxy(config(), probes({ haproxy: async (_t, line) => (line === 'show cli level' ? 'operator\n' : line === 'expert-mode on' ? 'Permission denied\n' : 'Version: 2.6.12\n') }));
    expect(operator).toMatchObject({ status: 'fail', summary: expect.stringContaining('level operator, not admin') });
    expect(operator.fix).toContain("set 'level admin'");
    const stale = await checkHaproxy(config(), probes({ haproxy: async () => Promise.reject(errno('ECONNREFUSED')) }));
    expect(stale).toMatchObject({ status: 'fail', summary: expect.stringContaining('nothing listens') });
    const denied = await checkHaproxy(config(), probes({ haproxy: async () => Promise.reject(errno('EACCES')) }));
    expect(denied.fix).toContain('usermod -a -G haproxy jenkins-sidecar');
  });

  it('measures clock skew against the midpoint of the query and fails beyond 2 s', async () => {
    const at = (ms: number) => async () => ({ before: new Date(0), after: new Date(100), dbNow: new Date(ms), version: 'PostgreSQL 17', versionNum: 170000 });
    const skew = async (ms: number) => (await checkPostgres(config(), probes({ postgres: at(ms) })))[1];
    expect(await skew(50)).toMatchObject({ status: 'ok', summary: 'this host is 0 ms ahead of the database (round trip 100 ms)' });
    expect((await skew(1_050)).status).toBe('warn');
    expect(await skew(-3_000)).toMatchObject({ status: 'fail', summary: expect.stringContaining('3050 ms ahead of') });
    expect((await skew(5_050)).summary).toContain('5000 ms behind');
  });

  it('names the unreachable database without its password', async () => {
    const [r, skew] = await checkPostgres(config(), probes({ postgres: async () => Promise.reject(errno('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:5432')) }));
    expect(r.status).toBe('fail');
    expect(r.summary).not.toContain('secret');
    expect(r.summary).toContain('postgres://sidecar:***@db:5432/coord');
    expect(skew.status).toBe('skip');
  });

  it('refuses Node.js older than 20.11', () => {
    expect(checkVersions(probes({ nodeVersion: 'v18.19.0' })).status).toBe('fail');
    expect(checkVersions(probes({ nodeVersion: 'v20.10.0' })).status).toBe('fail');
    expect(checkVersions(probes({ nodeVersion: 'v22.1.0' })).status).toBe('ok');
  });

  it('stops after the config check when the configuration does not parse', async () => {
    const results = await runDoctor({ config: null, warnings: [], errors: ['SIDECAR_LISTEN: expected host:port'] }, 'env', probes());
    expect(results.map((r) => `${r.name}:${r.status}`)).toEqual(['config:fail', 'versions:ok']);
    expect(formatReport(results)).toContain('- SIDECAR_LISTEN: expected host:port');
  });

  it('reports a probe that hangs as a failed check instead of hanging', async () => {
    const results = await runDoctor(loaded(), 'env', probes({ docker: () => new Promise(() => undefined) }), { checkTimeoutMs: 50 });
    expect(results.find((r) => r.name === 'docker')).toMatchObject({ status: 'fail', summary: expect.stringContaining('no answer within 50 ms') });
  });
});

describe('sidecarctl doctor: controller files of each team', () => {
  const root = '/etc/jenkins-selfmanage/teams';
  const lib = '/srv/library.git';
  const sec = (team: string, f: string): string => `${root}/${team}/secrets/${f}`;
  const withFiles = config({ teamsFile: '/etc/jenkins-sidecar/teams.yml', controllerFiles: { secretsRoot: root, libraryDir: lib } });
  const teamsText = (extra = ''): string =>
    `jenkins_teams:\n  - team_name: devops\n  - team_name: qa\n    web_port: 8081\n    agent_port: 50001\n${extra}`;
  /** devops and qa with every secret 0640 root:1000 and the library a directory: deploy would accept both. */
  const healthy = (): Record<string, FakeFile> => {
    const files: Record<string, FakeFile> = { '/etc/jenkins-sidecar/teams.yml': { mode: 0o100640, text: teamsText() }, [lib]: { mode: 0o040755 } };
    for (const t of ['devops', 'qa']) {
      for (const f of ['jenkins-admin-password', 'jenkins-service-password', 'sidecar-token']) files[sec(t, f)] = { mode: 0o100640, gid: 1000, size: 45 };
    }
    return files;
  };
  const run = async (files: Record<string, FakeFile>, c: SidecarConfig = withFiles) => runDoctor(loaded(c), 'env', probes({}, files));
  const named = (results: Awaited<ReturnType<typeof run>>, team: string) => results.find((r) => r.name === `controller files of ${team}`);

  it('passes every team whose files deploy would accept and the controller can read, one check per team after the teams file', async () => {
    const results = await run(healthy());
    expect(results.map((r) => `${r.name}:${r.status}`).slice(2, 6)).toEqual(['tokens file:ok', 'teams file:ok', 'controller files of devops:ok', 'controller files of qa:ok']);
    expect(named(results, 'qa')?.summary).toBe(`ready to mount: 3 secret file(s) in ${root}/qa/secrets, library ${lib}`);
    expect(exitCodeFor(results)).toBe(0);
  });

  it('fails a team naming each bad file with the exact command deploy would print, and leaves the other team ok', async () => {
    const files = healthy();
    delete files[sec('devops', 'jenkins-admin-password')];
    files[sec('devops', 'sidecar-token')] = { mode: 0o100640, gid: 1000, size: 0 };
    files[sec('devops', 'jenkins-service-password')] = { mode: 0o100644, gid: 1000, size: 45 };
    const results = await run(files);
    const r = named(results, 'devops');
    expect(r?.status).toBe('fail');
    expect(r?.summary).toBe('environment.deploy would refuse 3 of 4 file(s)');
    expect(r?.details).toEqual([
      `secret file ${sec('devops', 'jenkins-admin-password')} does not exist: team devops's jenkins.yaml reads it at /run/secrets/jenkins-admin-password (secrets.admin_password)`,
      `secret file ${sec('devops', 'jenkins-service-password')} is readable by every user (mode 644, secrets.service_password)`,
      `secret file ${sec('devops', 'sidecar-token')} is empty (secrets.sidecar_token): the controller would start with an empty secret`,
    ]);
    expect(r?.fix?.split('\n')).toEqual([
      `create it: ${createSecretCommand(sec('devops', 'jenkins-admin-password'))}`,
      `fix it: chgrp 1000 ${sec('devops', 'jenkins-service-password')} && chmod 0640 ${sec('devops', 'jenkins-service-password')}`,
      `write it: ${createSecretCommand(sec('devops', 'sidecar-token'))} (for the sidecar token, write the team's token from the tokens file instead of random bytes)`,
    ]);
    expect(named(results, 'qa')?.status).toBe('ok');
    expect(exitCodeFor(results)).toBe(1);
    expect(formatReport(results)).toContain(`[FAIL] controller files of devops: environment.deploy would refuse 3 of 4 file(s)\n       - secret file ${sec('devops', 'jenkins-admin-password')} does not exist`);
  });

  it('warns, without failing the host, when uid/gid 1000 cannot read a secret or enter the library', async () => {
    const files = healthy();
    files[sec('qa', 'jenkins-admin-password')] = { mode: 0o100600, size: 45 };
    files[lib] = { mode: 0o040700 };
    const results = await run(files);
    const r = named(results, 'qa');
    expect(r).toMatchObject({ status: 'warn', summary: '2 of 4 file(s) the controller cannot read' });
    expect(r?.details?.[0]).toBe(`the controller (uid/gid 1000) cannot read secret file ${sec('qa', 'jenkins-admin-password')} (owner 0:0, mode 600, secrets.admin_password): it would start without it`);
    expect(r?.details?.[1]).toContain(`cannot read the library repository ${lib} (owner 0:0, mode 700)`);
    expect(r?.fix?.split('\n')).toEqual([`chgrp 1000 ${sec('qa', 'jenkins-admin-password')} && chmod 0640 ${sec('qa', 'jenkins-admin-password')}`, `chgrp -R 1000 ${lib} && chmod -R g+rX ${lib}`]);
    expect(exitCodeFor(results)).toBe(0);
  });

  it('fails a missing library, a secret that is a directory and a path it cannot stat', async () => {
    const files = healthy();
    delete files[lib];
    files[sec('devops', 'sidecar-token')] = { mode: 0o040750 };
    files[sec('devops', 'jenkins-admin-password')] = { mode: 0, error: 'EACCES' };
    files[sec('devops', 'jenkins-service-password')] = { mode: 0, error: 'ENOTDIR' };
    const r = named(await run(files), 'devops');
    expect(r?.status).toBe('fail');
    expect(r?.details).toEqual([
      `cannot read ${sec('devops', 'jenkins-admin-password')}: EACCES`,
      expect.stringContaining(`secret file ${sec('devops', 'jenkins-service-password')} does not exist`),
      `secret ${sec('devops', 'sidecar-token')} is not a regular file (secrets.sidecar_token)`,
      `${lib} does not exist: team devops's jenkins.yaml loads its library from /var/lib/jenkins-selfmanage/library.git (shared_library.scm_url)`,
    ]);
    expect(r?.fix).toContain(`replace it: rm -r ${sec('devops', 'sidecar-token')} && install -d`);
    expect(r?.fix).toContain(`git init --bare ${lib}`);
  });

  it('checks {env: NAME} secrets as files NAME in the team secrets directory (deploy reads them from there), and fails paths deploy cannot mount', async () => {
    const envOnly =
      '  - team_name: remote\n    web_port: 8082\n    agent_port: 50002\n    shared_library: {scm_url: "https://git.example.com/lib.git"}\n    secrets:\n      admin_password: {env: ADMIN_PW}\n      service_password: {env: SERVICE_PW}\n      sidecar_token: {env: SIDECAR_TOKEN}\n' +
      '  - team_name: clash\n    web_port: 8083\n    agent_port: 50003\n    secrets:\n      admin_password: {file: /run/a/pw}\n      service_password: {file: /run/b/pw}\n';
    const files: Record<string, FakeFile> = { ...healthy(), '/etc/jenkins-sidecar/teams.yml': { mode: 0o100640, text: teamsText(envOnly) } };
    const results = await run(files);
    expect(named(results, 'remote')).toMatchObject({ status: 'fail', summary: 'environment.deploy would refuse 3 of 3 file(s)' });
    expect(named(results, 'remote')?.details).toContain(`secret file ${sec('remote', 'SIDECAR_TOKEN')} does not exist: team remote's jenkins.yaml reads it at $SIDECAR_TOKEN (secrets.sidecar_token)`);
    for (const n of ['ADMIN_PW', 'SERVICE_PW', 'SIDECAR_TOKEN']) files[sec('remote', n)] = { mode: 0o100600, size: 33 };
    expect(named(await run(files), 'remote')).toMatchObject({ status: 'ok', summary: `ready to mount: 3 secret file(s) in ${root}/remote/secrets` });
    expect(named(results, 'clash')).toMatchObject({ status: 'fail', summary: expect.stringContaining("share the file name 'pw'"), fix: expect.stringContaining('in the teams file') });
  });

  it('controllerCanRead goes by the first matching class of owner, group and other, like the kernel', () => {
    const can = (mode: number, uid: number, gid: number, dir = false) => controllerCanRead({ mode, uid, gid }, dir);
    expect(can(0o640, 0, 1000)).toBe(true);
    expect(can(0o600, 0, 0)).toBe(false);
    expect(can(0o400, 1000, 0)).toBe(true);
    expect(can(0o040, 1000, 1000)).toBe(false); // the owner class matches and has no r: the group's r does not count
    expect(can(0o604, 0, 0)).toBe(true);
    expect(can(0o750, 0, 1000, true)).toBe(true);
    expect(can(0o740, 0, 1000, true)).toBe(false); // a directory needs x to be entered
  });

  it('controllerFileVerdict is what deploy throws: code, "<problem>; <fix>", data', () => {
    const m: ControllerFileMount = { kind: 'secret', field: 'secrets.admin_password', source: '/s/devops/secrets/pw', target: '/run/secrets/pw' };
    const facts = (over: Partial<HostFileFacts>): HostFileFacts => ({ isFile: true, isDirectory: false, size: 10, mode: 0o100640, uid: 0, gid: 1000, ...over });
    expect(controllerFileVerdict('devops', m, facts({}))).toBeNull();
    // Deploy does not look at who can read it: 0600 root:root is accepted there (the doctor warns).
    expect(controllerFileVerdict('devops', m, facts({ mode: 0o100600, gid: 0 }))).toBeNull();
    const v = controllerFileVerdict('devops', m, null);
    expect(v).toMatchObject({ code: 'NOT_FOUND', data: { team: 'devops', field: 'secrets.admin_password', path: '/s/devops/secrets/pw', target: '/run/secrets/pw' } });
    const err = verdictError(v as NonNullable<typeof v>);
    expect(err).toMatchObject({ code: 'NOT_FOUND', message: `${v?.problem}; create it: ${createSecretCommand('/s/devops/secrets/pw')}` });
    const libDir: ControllerFileMount = { kind: 'library', field: 'shared_library.scm_url', source: '/srv/lib.git', target: '/var/lib/x/lib.git' };
    expect(controllerFileVerdict('devops', libDir, facts({ isFile: true }))).toMatchObject({ code: 'CONFLICT', problem: expect.stringContaining('/srv/lib.git is not a directory') });
    expect(controllerFileVerdict('devops', libDir, facts({ isFile: false, isDirectory: true }))).toBeNull();
  });
  it('reports, per self-managed team, what library-gen verify reports (the same lines)', async () => {
    const extra = '    self_management_enabled: true\n    dynamic_agents:\n      mount_docker_socket: true\n';
    const files = { ...healthy(), '/etc/jenkins-sidecar/teams.yml': { mode: 0o100640, text: teamsText(extra) } };
    const results = await run(files);
    expect(results.find((r) => r.name === 'jenkins conformance of devops')).toBeUndefined();
    const qa = results.find((r) => r.name === 'jenkins conformance of qa');
    const verify = verifyTeamsText(teamsText(extra), '/etc/jenkins-sidecar/teams.yml', loadTemplates());
    expect(qa).toMatchObject({ status: 'fail', details: verify.lines });
    expect(qa?.details).toContain(
      '/etc/jenkins-sidecar/teams.yml: team qa: teams/qa/jenkins.yaml: no unclassified.location.url: builds would have no JENKINS_URL or BUILD_URL; fix: set jenkins_configuration.public_url to the address users reach the team at',
    );
  });
});

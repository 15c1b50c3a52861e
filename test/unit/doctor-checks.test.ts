import type { ConfigResult, SidecarConfig } from '../../agent/src/config/sidecar-config';
import { exitCodeFor, formatReport } from '../../agent/src/doctor/check-result';
import { runDoctor } from '../../agent/src/doctor/doctor';
import type { DoctorProbes, FileFacts } from '../../agent/src/doctor/probes';
import { checkHaproxy, checkPostgres, checkVersions } from '../../agent/src/doctor/service-checks';

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
    ...over,
  };
}

const TOKENS = `tokens:\n  - id: ops\n    sha256: ${'a'.repeat(64)}\n    teams: ["*"]\n`;

/** A healthy host; each test breaks one thing. */
function probes(over: Partial<DoctorProbes> = {}, files: Record<string, { mode: number; text?: string }> = {}): DoctorProbes {
  const all: Record<string, { mode: number; text?: string }> = {
    '/etc/jenkins-sidecar/tokens.yml': { mode: 0o100640, text: TOKENS },
    '/run/haproxy/admin.sock': { mode: 0o140660 },
    ...files,
  };
  return {
    stat: (p) => (all[p] ? ({ mode: all[p].mode, uid: 0, gid: 0, isFile: true } satisfies FileFacts) : null),
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

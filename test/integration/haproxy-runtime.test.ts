import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { HaproxyRuntime } from '../../agent/src/haproxy/runtime-api';
import { isAdminHeld } from '../../agent/src/haproxy/stats';
import { renderHaproxyConfig } from '../../library-gen/src/render/haproxy-config';
import { freeTeamPorts, startBackend, type Backend } from '../support/backends';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { testTeam } from '../support/haproxy-teams';
import type { Team } from '../../catalog/teams-file';

function get(port: number, path = '/job/x', headers: Record<string, string> = {}): Promise<{ status: number; env: string | undefined; team: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, env: res.headers['x-jenkins-environment'] as string | undefined, team: res.headers['x-jenkins-team'] as string | undefined }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

jest.setTimeout(60000);

describe('HAProxy Runtime API driver against a real haproxy', () => {
  let team: Team;
  let blue: Backend;
  let green: Backend;
  let hap: HaproxyProcess;
  let backend: string;
  let blueSrv: string;
  let greenSrv: string;

  beforeAll(async () => {
    const ports = await freeTeamPorts();
    team = testTeam({ prefix: 'hr', ...ports });
    backend = team.haproxy_backend;
    blueSrv = team.environments.blue.server;
    greenSrv = team.environments.green.server;
    blue = await startBackend(team.environments.blue.web_port, 'blue');
    green = await startBackend(team.environments.green.web_port, 'green');
    hap = await startHaproxy([team]);
  });

  afterAll(async () => {
    await hap?.stop();
    await blue?.close();
    await green?.close();
  });

  it('the rendered config (with agent listeners) passes haproxy -c', () => {
    const cfg = join(hap.dir, 'check.cfg');
    writeFileSync(cfg, renderHaproxyConfig([team], { statsSocket: join(hap.dir, 'x.sock'), serverStateFile: hap.stateFile, bindAddress: '127.0.0.1' }));
    const out = execFileSync('haproxy', ['-c', '-f', cfg], { encoding: 'utf8' });
    expect(out).toContain('Configuration file is valid');
  });

  it('parses show stat and show servers state into typed records', async () => {
    const stats = (await hap.runtime.showStat()).filter((s) => s.backend === backend);
    expect(stats.map((s) => [s.server, s.status, s.weight])).toEqual([
      [blueSrv, 'UP', 100],
      [greenSrv, 'UP', 0],
    ]);
    expect(stats[0].checkStatus).toMatch(/^L7OK|^\* L7OK/);
    const state = await hap.runtime.showServersState(backend);
    expect(state.map((s) => [s.server, s.port, s.weight, s.initialWeight, s.opState])).toEqual([
      [blueSrv, team.environments.blue.web_port, 100, 100, 2],
      [greenSrv, team.environments.green.web_port, 0, 0, 2],
    ]);
  });

  it('splits traffic by weight and tags responses with the team and the environment that answered', async () => {
    await hap.runtime.setWeights([
      { backend, server: blueSrv, weight: 75 },
      { backend, server: greenSrv, weight: 25 },
    ]);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 40; i += 1) {
      const r = await get(hap.httpPort);
      expect(r.status).toBe(200);
      expect(r.team).toBe(team.team_name);
      counts[r.env ?? 'none'] = (counts[r.env ?? 'none'] ?? 0) + 1;
    }
    // Weighted round robin carries its position across weight changes: allow one request of slack.
    expect(Object.keys(counts).sort()).toEqual(['blue', 'green']);
    expect(Math.abs(counts.green - 10)).toBeLessThanOrEqual(2);
    const reqs = (await hap.runtime.showStat()).filter((s) => s.backend === backend);
    expect(reqs.find((s) => s.server === greenSrv)?.reqTot).toBe(counts.green);
  });

  it('routes by path prefix and Host header', async () => {
    const byPath = await get(hap.httpPort, `/${team.team_name}/api/json`);
    expect(byPath.team).toBe(team.team_name);
    const byHost = await get(hap.httpPort, '/api/json', { host: `${team.team_name}:8080` });
    expect(byHost.team).toBe(team.team_name);
  });

  it('sets drain, maint and ready and reads them back', async () => {
    await hap.runtime.setState(backend, greenSrv, 'drain');
    let st = (await hap.runtime.showServersState(backend)).find((s) => s.server === greenSrv);
    expect(isAdminHeld(st!)).toEqual({ maint: false, drain: true });
    await hap.runtime.setState(backend, greenSrv, 'maint');
    st = (await hap.runtime.showServersState(backend)).find((s) => s.server === greenSrv);
    expect(isAdminHeld(st!).maint).toBe(true);
    expect((await hap.runtime.showStat()).find((s) => s.server === greenSrv)?.status).toBe('MAINT');
    await hap.runtime.setState(backend, greenSrv, 'ready');
    st = (await hap.runtime.showServersState(backend)).find((s) => s.server === greenSrv);
    expect(isAdminHeld(st!)).toEqual({ maint: false, drain: false });
  });

  it.each([
    ['newline', (): string => `${greenSrv}\nset server ${backend}/${blueSrv} weight 0`],
    ['semicolon', (): string => `${greenSrv}; set server ${backend}/${blueSrv} weight 0`],
    ['space', (): string => `${greenSrv} weight 0`],
  ])('rejects a server name with a %s before sending anything', async (_label, makeEvil) => {
    const evil = makeEvil();
    await hap.runtime.setWeights([
      { backend, server: blueSrv, weight: 100 },
      { backend, server: greenSrv, weight: 0 },
    ]);
    await expect(hap.runtime.setWeights([{ backend, server: evil, weight: 50 }])).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(hap.runtime.setState(`${backend};show info`, greenSrv, 'maint')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const w = (await hap.runtime.showStat()).filter((s) => s.backend === backend).map((s) => s.weight);
    expect(w).toEqual([100, 0]);
  });

  it('reports HAProxy refusals and unknown servers', async () => {
    await expect(hap.runtime.setWeights([{ backend, server: 'nope', weight: 5 }])).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(hap.runtime.setWeights([{ backend, server: greenSrv, weight: 300 }])).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(hap.runtime.showServersState('no_such_backend')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps runtime weights across a reload through the server-state file', async () => {
    await hap.runtime.setWeights([
      { backend, server: blueSrv, weight: 40 },
      { backend, server: greenSrv, weight: 60 },
    ]);
    await hap.reload();
    const w = (await hap.runtime.showStat()).filter((s) => s.backend === backend).map((s) => s.weight);
    expect(w).toEqual([40, 60]);
  });

  it('says DEPENDENCY_DOWN when the socket is gone or does not answer', async () => {
    const gone = new HaproxyRuntime(join(hap.dir, 'missing.sock'), { timeoutMs: 500 });
    await expect(gone.showStat()).rejects.toMatchObject({ code: 'DEPENDENCY_DOWN', message: expect.stringContaining('missing.sock') });
    const held: Socket[] = [];
    const silent = createServer((c) => held.push(c));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    const mute = new HaproxyRuntime(`127.0.0.1:${port}`, { timeoutMs: 300 });
    await expect(mute.showStat()).rejects.toMatchObject({ code: 'DEPENDENCY_DOWN', data: expect.objectContaining({ reason: 'timeout' }) });
    for (const c of held) c.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });
});

it('opens no connection at all for a command with a bad name', async () => {
  let connections = 0;
  const counter = createServer((c) => {
    connections += 1;
    c.destroy();
  });
  await new Promise<void>((r) => counter.listen(0, '127.0.0.1', () => r()));
  const port = (counter.address() as { port: number }).port;
  const rt = new HaproxyRuntime(`127.0.0.1:${port}`, { timeoutMs: 300 });
  for (const evil of ['a\nb', 'a;b', 'a b', 'a\rb']) {
    await expect(rt.setWeights([{ backend: 'jenkins_backend_x', server: evil, weight: 1 }])).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(rt.setState(evil, 'x-blue', 'maint')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(rt.showServersState(evil)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  }
  // A raw line reaching send() with a newline is our own bug (names are checked above, at the edge): a plain Error, answered INTERNAL.
  await expect(rt.send('show info\nshutdown sessions')).rejects.toThrow('a Runtime API line must not contain a newline');
  expect(connections).toBe(0);
  await new Promise<void>((r) => counter.close(() => r()));
});

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trafficSwitchParams } from '../catalog/methods/traffic';
import type { OperationRunner } from '../agent/src/operations/runner';
import type { PgStore } from '../agent/src/store';
import type { Actor } from '../agent/src/store/contract';
import { runTrafficSwitch, trafficDeps } from '../agent/src/traffic/switch';
import { haproxySyntheticCheck } from '../agent/src/traffic/synthetic';
import { affinityCookieName } from '../catalog/haproxy-names';
import { freeTeamPorts } from '../test/support/backends';
import { crowd, crowdFigures, newcomers } from '../test/support/crowd';
import { startHaproxy } from '../test/support/haproxy-process';
import { startLoad } from '../test/support/haproxy-load';
import { testTeam } from '../test/support/haproxy-teams';
import { Person } from '../test/support/person';
import { startStandinProcess } from '../test/support/standin-process';

/**
 * One blue→green switch of a team of stand-in controllers (sessions, crumbs)
 * with two kinds of traffic at once: anonymous GETs (autocannon) and signed-in
 * people with cookie jars (form POSTs with their crumb). Prints the failed
 * requests of each, same run.
 */
export interface PeopleBenchRow {
  metric: string;
  ours: number;
  baseline: number | string;
  unit: string;
}

export async function benchPeopleBesideAnonymous(store: PgStore, runner: OperationRunner, actor: Actor, out: (l: string) => void): Promise<PeopleBenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'jsm-bench-people-'));
  const token = `api-${randomBytes(12).toString('hex')}`;
  writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
  const team = { ...testTeam({ prefix: 'bp', ...(await freeTeamPorts()) }), jenkins_user: 'sidecar', jenkins_token_file: join(dir, 'token') };
  const users = Array.from({ length: 40 }, (_, i) => ({ name: `p${i}`, token: `t${i}`, password: `pw-${i}-${randomBytes(4).toString('hex')}` }));
  const blue = await startStandinProcess(team.environments.blue.web_port, { team: team.team_name, environment: 'blue' });
  const green = await startStandinProcess(team.environments.green.web_port, { team: team.team_name, environment: 'green' });
  const hap = await startHaproxy([team]);
  try {
    for (const s of [blue, green]) await s.control({ users: [{ name: 'sidecar', token }, ...users] });
    let next = 0;
    const person = (): Person => {
      const u = users[next++ % users.length];
      return new Person(hap.httpPort, team.team_name, u.name, u.password, affinityCookieName(team.team_name));
    };
    const deps = trafficDeps({ store, haproxy: hap.runtime, teamConfig: () => team, synthetic: haproxySyntheticCheck({ frontend: { host: '127.0.0.1', port: hap.httpPort } }) });
    const c = crowd(5000, 50);
    const early: Person[] = [];
    for (let i = 0; i < 12; i += 1) {
      const p = person();
      await p.signIn();
      early.push(p);
      c.add(p);
    }
    const late = newcomers(c, person, 250, 24);
    const anonymous = startLoad(hap.httpPort, { connections: 4, maxSeconds: 120, rate: 200, path: '/login' });
    const lock = await store.locks.acquire({ team: team.team_name, operation: 'blue_green_switch', ttlSec: 600, waitSec: 0, owner: 'bench', actor });
    const params = trafficSwitchParams.parse({ team: team.team_name, target: 'green', increments: [25, 50, 100], validationSec: 2, sampleIntervalMs: 200, minSamples: 10, drainTimeoutSec: 5, lockToken: lock.token });
    const t0 = Date.now();
    const outcome = await runner.run({ type: 'traffic.switch', team: team.team_name, params, actor }, (ctx) => runTrafficSwitch(deps, params, ctx)).then(
      () => 'promoted',
      (e: Error) => `failed: ${e.message}`,
    );
    const ms = Date.now() - t0;
    await late.stop();
    await c.stop();
    const anon = await anonymous.stop();
    const f = crowdFigures([...early, ...late.people]);
    const anonFailed = anon.non2xx + anon.errors + anon.timeouts;
    out(
      `switch with signed-in people beside anonymous traffic (${outcome}, ${ms} ms): people ${f.people}, ${f.requests} requests, ${f.failedBeforeCut} failed before the final cut, ${f.failedAtCut} at it (at most ${f.worstPerPerson} per person); ` +
        `anonymous ${anon.requests} requests, ${anonFailed} failed`,
    );
    return [
      { metric: 'session requests failed before the final cut', ours: f.failedBeforeCut, baseline: anonFailed, unit: 'requests (baseline: anonymous failures, same switch)' },
      { metric: 'session requests failed at the final cut', ours: f.failedAtCut, baseline: f.people, unit: 'requests (baseline: people, one move each at most)' },
    ];
  } finally {
    await hap.stop();
    await blue.close();
    await green.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Team } from '../../catalog/teams-file';
import { affinityCookieName } from '../../catalog/haproxy-names';
import { freeTeamPorts } from './backends';
import { createTestDatabase } from './database';
import { startHaproxy, type HaproxyProcess } from './haproxy-process';
import { testTeam } from './haproxy-teams';
import { Person } from './person';
import { RpcClient } from './sidecar-process-rpc';
import { startSidecarProcess, type SidecarProcess } from './sidecar-process';
import { startStandinProcess, type StandinProcess } from './standin-process';
import { teamsYamlOf } from './traffic-stack';

/**
 * One team with a stand-in Jenkins per side (sessions, crumbs, users), the
 * real haproxy with the generated config, a real jenkins-sidecar with the
 * team's API token (for the synthetic transaction) and HAProxy's frontend,
 * and people who sign in through HAProxy. stop() undoes it, newest first.
 */
export interface PeopleStack {
  team: Team;
  blue: StandinProcess;
  green: StandinProcess;
  haproxy: HaproxyProcess;
  sidecar: SidecarProcess;
  client: RpcClient;
  /** A new person (a user on both controllers) who has not signed in yet. */
  person(): Person;
  /** Runs a switch to `target` through the sidecar; resolves with the RPC answer. */
  runSwitch(target: 'blue' | 'green', params: Record<string, unknown>): Promise<{ result?: unknown; error?: { code: string; message: string; data?: Record<string, unknown> } }>;
  stop(): Promise<void>;
}

export async function startPeopleStack(prefix: string): Promise<PeopleStack> {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  const stop = async (): Promise<void> => {
    for (let next = cleanups.pop(); next; next = cleanups.pop()) await Promise.resolve(next()).catch(() => undefined);
  };
  try {
    const db = await createTestDatabase(prefix);
    cleanups.push(() => db.drop());
    const dir = mkdtempSync(join(tmpdir(), `jsm-${prefix}-`));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const sidecarToken = `api-${randomBytes(12).toString('hex')}`;
    const tokenFile = join(dir, 'jenkins-token');
    writeFileSync(tokenFile, `${sidecarToken}\n`);
    chmodSync(tokenFile, 0o600);
    const base = testTeam({ prefix, ...(await freeTeamPorts()) });
    const team: Team = { ...base, jenkins_user: 'sidecar', jenkins_token_file: tokenFile };
    const teamsYaml = `${teamsYamlOf(team)}    jenkins_user: sidecar\n    jenkins_token_file: ${tokenFile}\n`;
    const people = Array.from({ length: 64 }, (_, i) => ({ name: `person${i}`, token: `t-${randomBytes(6).toString('hex')}`, password: `pw-${randomBytes(6).toString('hex')}` }));
    const sides: StandinProcess[] = [];
    for (const env of ['blue', 'green'] as const) {
      const s = await startStandinProcess(team.environments[env].web_port, { team: team.team_name, environment: env });
      cleanups.push(() => s.close());
      // The same users on both sides: what a migration of users/ gives.
      await s.control({ users: [{ name: 'sidecar', token: sidecarToken }, ...people] });
      sides.push(s);
    }
    const haproxy = await startHaproxy([team]);
    cleanups.push(() => haproxy.stop());
    const secret = `ops-${randomBytes(12).toString('hex')}-secret-token`;
    const sidecar = await startSidecarProcess({
      databaseUrl: db.url,
      instanceId: `${prefix}-${randomBytes(3).toString('hex')}`,
      tokens: [{ id: 'ops', teams: ['*'], secret }],
      teamsYaml,
      env: { SIDECAR_HAPROXY_SOCKET: haproxy.socketPath, SIDECAR_HAPROXY_FRONTEND: `127.0.0.1:${haproxy.httpPort}` },
    });
    cleanups.push(() => sidecar.stop().catch(() => undefined));
    const client = await RpcClient.connect(sidecar.rpcUrl, secret);
    cleanups.push(() => client.close());
    let next = 0;
    return {
      team,
      blue: sides[0],
      green: sides[1],
      haproxy,
      sidecar,
      client,
      person() {
        const p = people[next++ % people.length];
        return new Person(haproxy.httpPort, team.team_name, p.name, p.password, affinityCookieName(team.team_name));
      },
      async runSwitch(target, params) {
        const lock = await client.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 600, owner: `people/switch#${target}` });
        const token = (lock.result as { token: number }).token;
        try {
          const answer = await client.call('traffic.switch', { team: team.team_name, target, lockToken: token, ...params }, 120_000);
          return answer as never;
        } finally {
          await client.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token }).catch(() => undefined);
        }
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

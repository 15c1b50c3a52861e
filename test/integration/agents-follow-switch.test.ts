import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { teamJenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment, type EnvironmentDeps } from '../../agent/src/environments/deploy';
import { migrateState } from '../../agent/src/environments/migrate';
import { createPgStore, type PgStore } from '../../agent/src/store';
import type { AgentHandoverReport } from '../../agent/src/traffic/agent-handover';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { makeTestTeam, removeTeamAndImages, seedServiceUser, standinControl, TEST_JENKINS_USER, type TestTeam } from '../support/docker-teams';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { agentSecret, startInboundAgent, type InboundAgentProcess } from '../support/inbound-agent';
import { RpcClient } from '../support/sidecar-process-rpc';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { ensureStandinImage, STANDIN_IMAGE } from '../support/standin-image';

/**
 * Inbound agents follow the switch, end to end: stand-in controllers in Docker
 * (blue and green of one image), the generated haproxy.cfg in a real haproxy,
 * a real jenkins-sidecar running traffic.switch, and two WebSocket agents
 * connected through HAProxy with the secrets blue gave them. secrets/ and
 * nodes/ reach green by state.migrate, which restarts green since a controller
 * reads its master key only when it starts (see standin-inbound-agents.test.ts).
 * After promotion the idle agent moves at once; the one running a build stays
 * on blue until the build ended, then moves; the switch result, its progress
 * lines and the audit count both.
 */
jest.setTimeout(180_000);
const docker = new Docker();
const jenkinsFor = teamJenkinsClientFactory();
const BUSY = 'busy-agent';
const IDLE = 'idle-agent';
let db: TestDatabase;
let store: PgStore;
let t: TestTeam;
let image: string;
let hap: HaproxyProcess | undefined;
let sidecar: SidecarProcess | undefined;
let client: RpcClient | undefined;
const agents: InboundAgentProcess[] = [];
/** Each agent's secret as blue showed it before the migration (Jenkins makes the key at the first secret it shows). */
const secrets: Record<string, string> = {};

type Control = { connectedAgents: string[]; agentBuilds: Array<{ agent: string; job: string; number: number; result: string | null }> };
async function controlState(env: 'blue' | 'green'): Promise<Control> {
  const res = await fetch(`${t.team.environments[env].url}/_standin/control`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as Control;
}

/** Polls (bounded) until `pred` holds for the two controllers' agent state. */
async function until(what: string, pred: (blue: Control, green: Control) => boolean, timeoutMs = 60_000): Promise<{ blue: Control; green: Control }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [blue, green] = await Promise.all([controlState('blue'), controlState('green')]);
    if (pred(blue, green)) return { blue, green };
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (blue ${JSON.stringify(blue.connectedAgents)}, green ${JSON.stringify(green.connectedAgents)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  const { v1 } = await ensureStandinImage(docker, { tags: ['1'] });
  // A tag of this test's own: another worktree's run may rebuild the shared tag meanwhile.
  image = `${STANDIN_IMAGE}:agents-${randomBytes(4).toString('hex')}`;
  await docker.getImage(v1).tag({ repo: STANDIN_IMAGE, tag: image.split(':')[1] });
  db = await createTestDatabase('agentsw');
  store = await createPgStore({ connectionString: db.url, instanceId: 'agents-follow-test' });
  t = await makeTestTeam({ prefix: 'agf', image });
  const envDeps: EnvironmentDeps = { docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' } };
  for (const env of ['blue', 'green'] as const) await deployEnvironment(envDeps, t.team, { target: env, timeoutSec: 60, replace: true });
  await seedServiceUser(t, 'blue');
  await seedServiceUser(t, 'green');
  // The agents' nodes, as JCasC or an administrator saves them on blue.
  await standinControl(t.team, 'blue', { nodes: [{ name: BUSY, labels: ['linux'] }, { name: IDLE, labels: ['linux'] }] });
  const blueUrl = t.team.environments.blue.url.replace(/\/+$/, '');
  for (const name of [BUSY, IDLE]) secrets[name] = await agentSecret(blueUrl, TEST_JENKINS_USER, t.token, name);
  // The copy brings blue's secrets/ (master key included): the migration restarts green on them instead of reloading it.
  const migrated = await migrateState({ docker, jenkinsFor, journal: store.journal, environments: store.environments }, t.team, { source: 'blue', target: 'green', timeoutSec: 60 });
  expect(migrated.restart).toMatchObject({ restarted: true, secrets: expect.arrayContaining(['secrets/master.key']) });
  // Blue serves on (and runs builds) until the switch.
  await jenkinsFor(t.team, 'blue').cancelQuietDown();
  hap = await startHaproxy([t.team]);
  const secret = `ops-${randomBytes(12).toString('hex')}-secret-token`;
  sidecar = await startSidecarProcess({
    databaseUrl: db.url,
    instanceId: `agf-${randomBytes(3).toString('hex')}`,
    tokens: [{ id: 'ops', teams: ['*'], secret }],
    teamsYaml: readFileSync(t.teamsFile, 'utf8'),
    env: { SIDECAR_HAPROXY_SOCKET: hap.socketPath },
  });
  client = await RpcClient.connect(sidecar.rpcUrl, secret);
});

afterAll(async () => {
  for (const a of agents) await a.stop();
  client?.close();
  await sidecar?.stop().catch(() => undefined);
  await hap?.stop();
  if (t) await removeTeamAndImages(docker, t.team.team_name, [image]).then(() => t.cleanup(docker));
  await store?.close();
  await db?.drop();
});

test('an agent running a build on blue is on green after promotion, having finished its build first; an idle one moves at once', async () => {
  const viaHaproxy = `http://127.0.0.1:${hap!.httpPort}/`;
  const busy = startInboundAgent({ url: viaHaproxy, name: BUSY, secret: secrets[BUSY], hold: 'until-signal' });
  const idle = startInboundAgent({ url: viaHaproxy, name: IDLE, secret: secrets[IDLE], hold: 100 });
  agents.push(busy, idle);
  await until('both agents on blue', (blue) => blue.connectedAgents.includes(BUSY) && blue.connectedAgents.includes(IDLE));
  await standinControl(t.team, 'blue', { agentBuild: { agent: BUSY, job: 'app', number: 1 } });
  await busy.waitFor((e) => e.event === 'build');

  const team = t.team.team_name;
  const lock = await client!.call('lock.acquire', { team, operation: 'blue_green_switch', ttlSec: 600, owner: 'agents/switch#1' });
  const lockToken = (lock.result as { token: number }).token;
  const answer = client!.call('traffic.switch', { team, target: 'green', lockToken, increments: [50, 100], validationSec: 1, minSamples: 0, sampleIntervalMs: 200, drainTimeoutSec: 20 }, 150_000);

  // The idle agent reaches green while the busy one is still on blue with its build running.
  const mid = await until('the idle agent on green', (_blue, green) => green.connectedAgents.includes(IDLE), 120_000).catch(async (err: Error) => {
    const got = await Promise.race([answer, new Promise((r) => setTimeout(() => r('no answer yet'), 1000))]);
    const logs = await Promise.all((['blue', 'green'] as const).map(async (env) => `${env}: ${String(await docker.getContainer(t.team.environments[env].container).logs({ stdout: true, stderr: true, tail: 30 }))}`));
    throw new Error(`${err.message}\nswitch: ${JSON.stringify(got)}\nprogress: ${client!.notifications.map((n) => String(n.params?.message ?? '')).join('\n')}\n${logs.join('\n')}\nagents: ${JSON.stringify([...busy.events, ...idle.events])}`);
  });
  expect(mid.blue.connectedAgents).toContain(BUSY);
  expect(mid.blue.agentBuilds).toEqual([{ agent: BUSY, job: 'app', number: 1, result: null }]);
  const eventsBefore = busy.events.length;
  busy.finishBuilds();

  const out = (await answer) as { result?: { status: string; agents: AgentHandoverReport }; error?: unknown };
  await client!.call('lock.release', { team, operation: 'blue_green_switch', token: lockToken });
  expect(out.error).toBeUndefined();
  const report = out.result!.agents;
  process.stdout.write(`agents handover: ${report.moved.length} moved (${report.moved.map((m) => `${m.agent} after ${m.waitedMs} ms`).join(', ')}), ${report.stillBuilding.length} still building, ${report.arrived.length} online on green\n`);
  expect(out.result!.status).toBe('promoted');
  expect(report.moved.map((m) => m.agent)).toEqual([IDLE, BUSY]);
  expect(report.moved.find((m) => m.agent === BUSY)!.afterBuilds).toEqual(['app #1']);
  expect(report.moved.find((m) => m.agent === IDLE)!.afterBuilds).toEqual([]);
  expect(report.stillBuilding).toEqual([]);
  expect(report.arrived.sort()).toEqual([BUSY, IDLE].sort());

  // The build ended on blue before the agent left it, and the agent reconnected with the same secret to green.
  const end = await until('both agents on green', (_b, green) => green.connectedAgents.includes(BUSY) && green.connectedAgents.includes(IDLE));
  expect(end.blue.connectedAgents).toEqual([]);
  expect(end.blue.agentBuilds).toEqual([{ agent: BUSY, job: 'app', number: 1, result: 'SUCCESS' }]);
  const after = busy.events.slice(eventsBefore).map((e) => e.event);
  expect(after.slice(0, 3)).toEqual(['done', 'terminated', 'connected']);
  expect(busy.events.some((e) => e.event === 'refused' || e.event === 'lost')).toBe(false);

  const lines = client!.notifications.map((n) => String(n.params?.message ?? ''));
  expect(lines).toContain(`agent ${BUSY} runs app #1 on blue: it moves when they end (waiting up to 20s)`);
  expect(lines).toContain(`agent ${IDLE} moved off blue (idle)`);
  expect(lines).toContain(`agent ${BUSY} moved off blue after app #1 ended`);
  const audit = await store.audit.list({ team, operationType: 'traffic.switch' });
  const promoted = audit.find((a) => a.status === 'promoted');
  expect((promoted?.metadata?.agents as AgentHandoverReport).moved.map((m) => m.agent)).toEqual([IDLE, BUSY]);
});

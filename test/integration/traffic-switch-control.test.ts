import type { EnvironmentName, Team } from '../../catalog/teams-file';
import { createPgStore, type PgStore } from '../../agent/src/store';
import type { Backend } from '../support/backends';
import { eventually } from '../support/eventually';
import { startLoad, type LoadRun } from '../support/haproxy-load';
import { RpcClient, type RpcMessage } from '../support/sidecar-process-rpc';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';
import { startTrafficStack, teamsYamlOf, type TrafficStack } from '../support/traffic-stack';

jest.setTimeout(90_000);

/**
 * A person in the loop of a running switch, end to end: the real jenkins-sidecar process, real
 * haproxy and Postgres, load on loopback through haproxy, the four commands over JSON-RPC with the
 * team's token (each call names a build, as the pipeline steps do). Windows are 2 s, sampling 200 ms.
 */
let stack: TrafficStack;
let store: PgStore;
let team: Team;
let sidecar: SidecarProcess;
const MAX_PAUSE_SEC = 120;
const SWITCH_BUILD = 'Infrastructure/Self-Managed-Blue-Green-Switch#41';
const PERSON_BUILD = 'Infrastructure/Operator-Console#7';
/** Each window: long enough that a command sent on its step's progress line lands inside it, even on a loaded machine. */
const WINDOW_SEC = 2;

beforeAll(async () => {
  stack = await startTrafficStack({ prefix: 'tc', sidecars: 0 });
  team = stack.team;
  // The team's max pause comes from its teams-file entry.
  const teamsYaml = `${teamsYamlOf(team)}    progressive_traffic:\n      max_pause_sec: ${MAX_PAUSE_SEC}\n`;
  sidecar = await startSidecarProcess({
    databaseUrl: stack.databaseUrl,
    instanceId: stack.instanceId,
    teamsYaml,
    tokens: [
      { id: 'ops', teams: ['*'] },
      { id: 'team-token', teams: [team.team_name] },
      { id: 'intruder', teams: ['intruders'] },
    ],
    env: { SIDECAR_HAPROXY_SOCKET: stack.haproxy.socketPath },
  });
  stack.defer(() => sidecar.stop().catch(() => undefined));
  store = await createPgStore({ connectionString: stack.databaseUrl, instanceId: 'observer' });
  stack.defer(() => store.close());
});

afterAll(async () => {
  await stack?.stop();
});

async function client(token: 'ops' | 'team-token' | 'intruder'): Promise<RpcClient> {
  const c = await RpcClient.connect(sidecar.rpcUrl, sidecar.secrets[token]!);
  stack.defer(() => c.close());
  return c;
}

const backendOf = (env: EnvironmentName): Backend => (env === 'blue' ? stack.blue : stack.green);
const phaseOf = (m: RpcMessage): string | undefined => (m.params as { phase?: string } | undefined)?.phase;

interface RunningSwitchCall {
  c: RpcClient;
  target: EnvironmentName;
  source: EnvironmentName;
  token: number;
  answer: Promise<RpcMessage>;
  load: LoadRun;
}

/** Takes the team's switch lock and starts traffic.switch to the side without traffic, under load. */
async function startSwitch(): Promise<RunningSwitchCall> {
  const c = await client('team-token');
  const state = (await c.call('environment.status', { team: team.team_name })).result as { active: EnvironmentName };
  const target: EnvironmentName = state.active === 'blue' ? 'green' : 'blue';
  const lock = await c.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 120, waitSec: 10, build: SWITCH_BUILD });
  expect(lock.error).toBeUndefined();
  const token = (lock.result as { token: number }).token;
  const load = startLoad(stack.haproxy.httpPort, { connections: 4, maxSeconds: 60 });
  const answer = c.call('traffic.switch', { team: team.team_name, target, validationSec: WINDOW_SEC, sampleIntervalMs: 200, minSamples: 20, drainTimeoutSec: 5, lockToken: token, build: SWITCH_BUILD }, 80_000);
  return { c, target, source: target === 'blue' ? 'green' : 'blue', token, answer, load };
}

/** Waits (bounded) for the switch's `phase` notification; returns its operation id. */
function reached(c: RpcClient, phase: string): Promise<string> {
  return eventually(`progress ${phase}`, async () => {
    const n = c.notifications.find((m) => phaseOf(m) === phase);
    return n ? String(n.params?.operationId) : null;
  }, 40_000);
}

/** Ends the switch's call: its answer, and the load's totals. */
async function finish(sw: RunningSwitchCall): Promise<{ answer: RpcMessage; totals: Awaited<ReturnType<LoadRun['stop']>> }> {
  const answer = await sw.answer;
  const totals = await sw.load.stop();
  await sw.c.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token: sw.token }).catch(() => undefined);
  return { answer, totals };
}

const command = (c: RpcClient, verb: 'pause' | 'resume' | 'promote' | 'abort', params: Record<string, unknown>): Promise<RpcMessage> =>
  c.call(`traffic.${verb}`, { team: team.team_name, build: PERSON_BUILD, ...params });

const desiredWeights = async (): Promise<{ blue: number; green: number }> => (await store.environments.get(team.team_name))!.weights;

it('a switch paused at 25% holds its weights past its windows, shows paused with since and by, then resumes and promotes; audited with who and why', async () => {
  const sw = await startSwitch();
  const opId = await reached(sw.c, 'step-25');
  const person = await client('team-token');
  const paused = await command(person, 'pause', { reason: 'checking the build queue first', operationId: opId });
  expect(paused.error).toBeUndefined();
  const p = paused.result as { state: string; by: string; taken: boolean; percent: number; pause: { since: string; by: string; maxPauseSec: number; endsAt: string } };
  expect(p).toMatchObject({ state: 'paused', by: PERSON_BUILD, percent: 25, pause: { by: PERSON_BUILD, maxPauseSec: MAX_PAUSE_SEC } });
  const held = { [sw.target]: 25, [sw.source]: 75 };
  await eventually('the paused progress line', async () => (sw.c.notifications.some((m) => phaseOf(m) === 'paused') ? true : null), 10_000);

  // Longer than two of its windows: HAProxy's weights and the desired ones stay put.
  const heldFrom = Date.now();
  for (let i = 0; i < 30 && Date.now() - heldFrom < 2.5 * WINDOW_SEC * 1000; i += 1) {
    expect(await stack.weights()).toEqual(held);
    expect(await desiredWeights()).toEqual(held);
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(Date.now() - heldFrom).toBeGreaterThanOrEqual(2.5 * WINDOW_SEC * 1000);

  // Shown as paused, with since and by, by traffic.status and environment.status (both read the journal).
  const ops = await client('ops');
  const status = (await ops.call('traffic.status', { team: team.team_name })).result as { switch: Record<string, unknown> };
  const shown = { operationId: opId, target: sw.target, phase: 'paused', percent: 25, weights: held, control: 'paused', pause: { since: p.pause.since, by: PERSON_BUILD, reason: 'checking the build queue first', maxPauseSec: MAX_PAUSE_SEC, endsAt: p.pause.endsAt, gate: null } };
  expect(status.switch).toMatchObject(shown);
  expect(((await person.call('environment.status', { team: team.team_name })).result as { switch: unknown }).switch).toMatchObject(shown);

  const resumed = await command(person, 'resume', { reason: 'queue is fine' });
  expect(resumed.result).toMatchObject({ state: 'running', command: 'resume' });
  const { answer, totals } = await finish(sw);
  process.stdout.write(`paused switch: ${totals.requests} requests, ${totals.non2xx} non-2xx, ${totals.errors} errors\n`);
  expect(answer.error).toBeUndefined();
  const result = answer.result as { status: string; steps: Array<{ percent: number; windowSec: number; verdict: string }> };
  expect(result.status).toBe('promoted');
  expect(result.steps.map((s) => [s.percent, s.verdict])).toEqual([[5, 'pass'], [10, 'pass'], [25, 'pass'], [50, 'pass'], [100, 'pass']]);
  expect(result.steps[2]!.windowSec).toBeGreaterThanOrEqual(2.5 * WINDOW_SEC);
  expect(totals.non2xx).toBe(0);
  expect(totals.errors).toBe(0);
  expect(sw.c.notifications.some((m) => phaseOf(m) === 'step-25' && /resumed at 25%/.test(String(m.params?.message)))).toBe(true);

  // Journaled in the switch's own operation, and audited: who (token, build) and why (the reason).
  const op = await store.journal.get(opId);
  expect(op?.steps.filter((s) => s.name === 'control').map((s) => [s.intent.verb, s.intent.by, s.intent.reason, s.outcome])).toEqual([
    ['pause', PERSON_BUILD, 'checking the build queue first', 'done'],
    ['resume', PERSON_BUILD, 'queue is fine', 'done'],
  ]);
  const audit = await store.audit.list({ team: team.team_name, operationType: 'traffic.pause', limit: 5 });
  expect(audit[0]).toMatchObject({ status: 'SUCCESS', initiatedBy: PERSON_BUILD, operationId: opId, metadata: expect.objectContaining({ tokenId: 'team-token', build: PERSON_BUILD, params: expect.objectContaining({ reason: 'checking the build queue first' }) }) });
  const resumeAudit = await store.audit.list({ team: team.team_name, operationType: 'traffic.resume', limit: 5 });
  expect(resumeAudit[0]).toMatchObject({ status: 'SUCCESS', operationId: opId, metadata: expect.objectContaining({ tokenId: 'team-token', params: expect.objectContaining({ reason: 'queue is fine' }) }) });
  await eventually('no running switch shown once it ended', async () => (((await ops.call('traffic.status', { team: team.team_name })).result as { switch: unknown }).switch === null ? true : null), 10_000);
});

it('a breach injected while paused rolls back within the usual bound', async () => {
  const sw = await startSwitch();
  const opId = await reached(sw.c, 'step-25');
  const person = await client('team-token');
  expect((await command(person, 'pause', { reason: 'hold while we look', operationId: opId })).result).toMatchObject({ state: 'paused' });
  await eventually('the paused progress line', async () => (sw.c.notifications.some((m) => phaseOf(m) === 'paused') ? true : null), 10_000);
  const injectedAt = Date.now();
  backendOf(sw.target).set({ errorRate: 0.3 });
  const { answer } = await finish(sw).finally(() => backendOf(sw.target).set({ errorRate: 0 }));
  expect(answer.error?.data).toMatchObject({ code: 'SLI_BREACH', step: 25 });
  const data = answer.error!.data as { rolledBackAt: string; errorRate: number; breaches: Array<{ metric: string }> };
  expect(data.breaches[0]!.metric).toBe('error_rate');
  const fromInjection = Date.parse(data.rolledBackAt) - injectedAt;
  process.stdout.write(`breach while paused: error rate ${data.errorRate}%, traffic back ${fromInjection} ms after the injection\n`);
  expect(fromInjection).toBeLessThan(2000);
  expect(await stack.weights()).toEqual({ [sw.source]: 100, [sw.target]: 0 });
  expect((await store.journal.get(opId))?.status).toBe('rolled_back');
});

it('a pause nobody resumes within its maxPauseSec rolls back, saying so in the progress, the error and the audit', async () => {
  const sw = await startSwitch();
  const opId = await reached(sw.c, 'step-25');
  const person = await client('team-token');
  const paused = await command(person, 'pause', { reason: 'back in a minute', maxPauseSec: 2 });
  expect(paused.result).toMatchObject({ state: 'paused', pause: { maxPauseSec: 2 } });
  const { answer } = await finish(sw);
  expect(answer.error?.data).toMatchObject({ code: 'TIMEOUT', step: 25, active: sw.source });
  expect(answer.error?.message).toMatch(/paused 2 s without a resume \(max_pause_sec\); paused by .*: back in a minute/);
  expect(sw.c.notifications.find((m) => phaseOf(m) === 'rolled-back')?.params?.message).toMatch(/paused 2 s without a resume/);
  expect(await stack.weights()).toEqual({ [sw.source]: 100, [sw.target]: 0 });
  const audit = await store.audit.list({ team: team.team_name, operationType: 'traffic.switch', limit: 5 });
  expect(audit.find((a) => a.operationId === opId && a.status === 'rolled_back')?.rollbackReason).toMatch(/^paused 2 s without a resume \(max_pause_sec\)/);
});

it('promote full from 10% reaches 100% with the drain, no failed request under load', async () => {
  const sw = await startSwitch();
  const opId = await reached(sw.c, 'step-10');
  const person = await client('team-token');
  const promoted = await command(person, 'promote', { reason: 'the release is urgent', full: true, operationId: opId });
  expect(promoted.result).toMatchObject({ command: 'promote', state: expect.stringMatching(/^(promote-requested|running)$/) });
  const { answer, totals } = await finish(sw);
  process.stdout.write(`promote --full: ${totals.requests} requests, ${totals.non2xx} non-2xx, ${totals.errors} errors\n`);
  expect(answer.error).toBeUndefined();
  const result = answer.result as { status: string; steps: Array<{ percent: number; verdict: string }>; drained: unknown };
  expect(result.status).toBe('promoted');
  expect(result.steps.map((s) => [s.percent, s.verdict])).toEqual([[5, 'pass'], [10, 'pass'], [100, 'pass']]);
  expect(result.drained).toEqual(expect.objectContaining({ waitedMs: expect.any(Number) }));
  expect(totals.requests).toBeGreaterThan(50);
  expect(totals.non2xx).toBe(0);
  expect(totals.errors).toBe(0);
  expect(await stack.weights()).toEqual({ [sw.source]: 0, [sw.target]: 100 });
  const old = (await stack.haproxy.runtime.showStat()).find((s) => s.backend === team.haproxy_backend && s.server === team.environments[sw.source].server);
  expect(old?.status).toBe('MAINT');
  expect((await store.environments.get(team.team_name))?.active).toBe(sw.target);
  const audit = await store.audit.list({ team: team.team_name, operationType: 'traffic.promote', limit: 1 });
  expect(audit[0]).toMatchObject({ status: 'SUCCESS', initiatedBy: PERSON_BUILD, operationId: opId, metadata: expect.objectContaining({ tokenId: 'team-token', build: PERSON_BUILD, params: expect.objectContaining({ reason: 'the release is urgent', full: true }) }) });
});

it('abort hold leaves the weights where they were and the operation aborted; a later rollback.emergency still works', async () => {
  const sw = await startSwitch();
  const opId = await reached(sw.c, 'step-25');
  const person = await client('team-token');
  expect((await command(person, 'abort', { reason: 'stop here, we look tomorrow', hold: true })).result).toMatchObject({ command: 'abort', state: 'abort-requested' });
  const { answer } = await finish(sw);
  const held = { [sw.target]: 25, [sw.source]: 75 };
  expect(answer.error?.data).toMatchObject({ code: 'CONFLICT', reason: 'aborted', weights: held });
  expect((await store.journal.get(opId))?.status).toBe('aborted');
  expect(await stack.weights()).toEqual(held);
  expect(await desiredWeights()).toEqual(held);
  // The switch's own record (the dispatcher's row of the traffic.switch call, FAILURE, comes beside it).
  const audit = await store.audit.list({ team: team.team_name, operationType: 'traffic.switch', limit: 5 });
  expect(audit.find((a) => a.operationId === opId && a.status === 'aborted')).toMatchObject({ status: 'aborted', operationId: opId, initiatedBy: PERSON_BUILD, rollbackReason: expect.stringContaining('stop here, we look tomorrow') });

  const abortAudit = await store.audit.list({ team: team.team_name, operationType: 'traffic.abort', limit: 1 });
  expect(abortAudit[0]).toMatchObject({ status: 'SUCCESS', initiatedBy: PERSON_BUILD, operationId: opId, metadata: expect.objectContaining({ tokenId: 'team-token', params: expect.objectContaining({ reason: 'stop here, we look tomorrow', hold: true }) }) });

  const stop = await (await client('ops')).call('rollback.emergency', { team: team.team_name, reason: 'back to the last known good side' });
  expect(stop.result).toMatchObject({ active: sw.source, weights: { [sw.source]: 100, [sw.target]: 0 } });
  expect(await stack.weights()).toEqual({ [sw.source]: 100, [sw.target]: 0 });
});

it("another team's token is FORBIDDEN for all four commands, also with the switch's real operation id; a switch fenced out by a newer lock owner is refused FENCED", async () => {
  const sw = await startSwitch();
  const opId = await reached(sw.c, 'step-25');
  const person = await client('team-token');
  expect((await command(person, 'pause', { reason: 'hold for the handover', operationId: opId })).result).toMatchObject({ state: 'paused' });
  const intruder = await client('intruder');
  for (const [verb, extra] of [['pause', {}], ['resume', {}], ['promote', { full: true }], ['abort', { hold: false }]] as const) {
    for (const guessed of [{}, { operationId: opId }]) {
      const r = await command(intruder, verb, { reason: 'let me in', ...extra, ...guessed });
      expect(r.error?.data).toMatchObject({ code: 'FORBIDDEN' });
    }
  }
  // Nothing the intruder sent reached the switch: it holds at 25% as the team's person asked.
  const status = (await person.call('traffic.status', { team: team.team_name })).result as { switch: { control: string; pause: { by: string } } };
  expect(status.switch).toMatchObject({ control: 'paused', percent: 25, pause: { by: PERSON_BUILD, reason: 'hold for the handover' } });
  expect(await stack.weights()).toEqual({ [sw.target]: 25, [sw.source]: 75 });

  // The switch's lock goes to another owner (a newer fencing token): its commands are refused.
  await sw.c.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token: sw.token });
  const newer = await person.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 60, waitSec: 5, owner: 'next-build' });
  expect((newer.result as { token: number }).token).toBeGreaterThan(sw.token);
  for (const [verb, extra] of [['resume', {}], ['promote', { full: false }], ['abort', { hold: true }]] as const) {
    const r = await command(person, verb, { reason: 'go on', ...extra });
    expect(r.error?.data).toMatchObject({ code: 'FENCED' });
  }
  expect(((await person.call('traffic.status', { team: team.team_name })).result as { switch: { control: string } }).switch.control).toBe('paused');
  // The stop button is never fenced: it halts the stale switch.
  const stop = await (await client('ops')).call('rollback.emergency', { team: team.team_name, reason: 'stale switch', target: sw.source });
  expect(stop.result).toMatchObject({ active: sw.source, halted: opId });
  const { answer } = await finish(sw);
  expect(answer.error?.data).toMatchObject({ code: 'CONFLICT', reason: 'halted' });
  await person.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', owner: 'next-build' });
  const refused = await store.audit.list({ team: team.team_name, operationType: 'traffic.resume', limit: 5 });
  expect(refused[0]).toMatchObject({ status: 'FAILURE', metadata: expect.objectContaining({ tokenId: 'team-token', error: expect.objectContaining({ code: 'FENCED' }) }) });
});

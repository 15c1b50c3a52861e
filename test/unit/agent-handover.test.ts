import type { EnvironmentName } from '../../catalog/teams-file';
import type { JenkinsClient } from '../../agent/src/jenkins/client';
import type { ComputerInfo } from '../../agent/src/jenkins/api-types';
import type { OperationContext, OperationRecord } from '../../agent/src/store/contract';
import { describeHandover, handOverAgents, isInboundNode, planHandover } from '../../agent/src/traffic/agent-handover';
import { testTeam } from '../support/haproxy-teams';

/**
 * The handover's decisions with a fake clock and two scripted controllers (each a list of
 * computers that changes as builds end and agents reconnect). The real path, a stand-in
 * per side behind the generated haproxy.cfg, is test/integration/agents-follow-switch.test.ts.
 */
const team = testTeam({ prefix: 'ah', webPort: 18080, agentPort: 19080 });
const OWN = `${team.team_name}-coordination`;

const agent = (name: string, builds: string[] = [], offline = false): ComputerInfo => ({
  _class: 'hudson.slaves.SlaveComputer',
  displayName: name,
  offline,
  idle: builds.length === 0,
  executors: [...builds.map((b) => ({ idle: false, currentExecutable: { fullDisplayName: b } })), { idle: true, currentExecutable: null }],
  oneOffExecutors: [],
});
const builtIn: ComputerInfo = { _class: 'hudson.model.Hudson$MasterComputer', displayName: 'Built-In Node', offline: false, idle: true, executors: [] };
const INBOUND_XML = '<slave><name>x</name><launcher class="hudson.slaves.JNLPLauncher"><webSocket>true</webSocket></launcher></slave>';
const SSH_XML = '<slave><name>x</name><launcher class="hudson.plugins.sshslaves.SSHLauncher" plugin="ssh-slaves"/></slave>';

/** One side: computers() answers the current list; disconnectAgent takes the agent off it and, if it reconnects, onto `peer`. */
class FakeController {
  computersNow: ComputerInfo[];
  disconnects: string[] = [];
  peer: FakeController | null = null;
  constructor(list: ComputerInfo[], private readonly xml: Record<string, string> = {}) {
    this.computersNow = list;
  }
  async computers() {
    return { busyExecutors: 0, totalExecutors: 0, computer: this.computersNow };
  }
  async nodeConfigXml(name: string): Promise<string> {
    const x = this.xml[name];
    if (!x) throw new Error('403 Forbidden');
    return x;
  }
  async disconnectAgent(name: string): Promise<void> {
    const c = this.computersNow.find((x) => x.displayName === name);
    if (!c || !c.idle) throw new Error(`disconnected ${name} while it ran a build`);
    this.disconnects.push(name);
    c.offline = true;
    this.peer?.computersNow.push(agent(name));
  }
}

function context(): { ctx: OperationContext; lines: string[]; advance(ms: number): void } {
  let now = 0;
  const lines: string[] = [];
  const ctx = {
    operation: { id: 'op-1' } as OperationRecord,
    actor: { tokenId: 'ops' },
    progress: (e: { message: string }) => lines.push(e.message),
    signal: new AbortController().signal,
    clock: { now: () => new Date(now) },
  } as unknown as OperationContext;
  return { ctx, lines, advance: (ms) => (now += ms) };
}

function run(blue: FakeController, green: FakeController, onPoll: (polls: number) => void, timeoutMs = 10_000) {
  const { ctx, lines, advance } = context();
  let polls = 0;
  const jenkinsFor = (_t: unknown, env: EnvironmentName) => (env === 'blue' ? blue : green) as unknown as JenkinsClient;
  const sleep = async (ms: number): Promise<void> => {
    advance(ms);
    onPoll(++polls);
  };
  return handOverAgents({ jenkinsFor, sleep }, team, 'blue', 'green', ctx, ctx.signal, { timeoutMs, pollMs: 500 }).then((r) => ({ r, lines }));
}

describe('agent handover after promotion', () => {
  it('plans only connected agents: idle ones now, busy ones with their builds', () => {
    const plan = planHandover([builtIn, agent('a-idle'), agent('a-busy', ['app #7']), agent('a-off', [], true), agent('a-done')], new Set(['a-done']));
    expect(plan).toEqual({ idle: ['a-idle'], busy: [{ agent: 'a-busy', builds: ['app #7'] }] });
  });

  it('counts an agent whose Pipeline holds only a one-off executor as busy', () => {
    const c: ComputerInfo = { ...agent('a1'), idle: false, oneOffExecutors: [{ idle: false, currentExecutable: { fullDisplayName: 'pipe #3' } }] };
    expect(planHandover([c], new Set())).toEqual({ idle: [], busy: [{ agent: 'a1', builds: ['pipe #3'] }] });
  });

  it('tells an inbound node from one its controller launches', () => {
    expect(isInboundNode(INBOUND_XML)).toBe(true);
    expect(isInboundNode(SSH_XML)).toBe(false);
  });

  it('moves an idle agent at once and a busy one only after its build ended', async () => {
    const blue = new FakeController([builtIn, agent(OWN, ['switch #4']), agent('idle1'), agent('busy1', ['app #7']), agent('ssh1')], { idle1: INBOUND_XML, busy1: INBOUND_XML, ssh1: SSH_XML, [OWN]: INBOUND_XML });
    const green = new FakeController([builtIn]);
    blue.peer = green;
    const { r, lines } = await run(blue, green, (polls) => {
      if (polls === 3) blue.computersNow = blue.computersNow.map((c) => (c.displayName === 'busy1' ? { ...agent('busy1'), offline: c.offline } : c));
    });
    expect(blue.disconnects).toEqual(['idle1', 'busy1']);
    expect(r.moved).toEqual([
      { agent: 'idle1', waitedMs: 0, afterBuilds: [] },
      { agent: 'busy1', waitedMs: 1500, afterBuilds: ['app #7'] },
    ]);
    expect(r.stillBuilding).toEqual([]);
    expect(r.arrived.sort()).toEqual(['busy1', 'idle1']);
    expect(r.skipped).toEqual(expect.arrayContaining([{ agent: OWN, reason: "the controller's own coordination agent" }, { agent: 'ssh1', reason: 'not an inbound agent (its controller launches it)' }]));
    expect(lines).toContain('agent busy1 runs app #7 on blue: it moves when they end (waiting up to 10s)');
    expect(lines[lines.length - 1]).toBe('2 agent(s) moved from blue to green (2 online on green)');
  });

  it('leaves an agent whose build outlasts the wait connected, and says so', async () => {
    const blue = new FakeController([agent('idle1'), agent('long1', ['nightly #2'])], { idle1: INBOUND_XML, long1: INBOUND_XML });
    const green = new FakeController([]);
    blue.peer = green;
    const { r } = await run(blue, green, () => undefined, 2_000);
    expect(blue.disconnects).toEqual(['idle1']);
    expect(r.stillBuilding).toEqual([{ agent: 'long1', builds: ['nightly #2'] }]);
    expect(describeHandover(r, 'blue', 'green')).toBe('1 agent(s) moved from blue to green (1 online on green); still running builds on blue: long1 (nightly #2)');
  });

  it('reports an old side it cannot ask instead of failing the promoted switch', async () => {
    const blue = new FakeController([]);
    blue.computers = async () => {
      throw new Error('Jenkins ah/blue: GET /computer/api/json: cannot connect');
    };
    const { r } = await run(blue, new FakeController([]), () => undefined);
    expect(r.error).toMatch(/cannot connect/);
    expect(r.moved).toEqual([]);
  });
});

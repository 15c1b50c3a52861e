import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTeamPorts } from '../support/backends';
import { agentHandshake, agentSecret } from '../support/inbound-agent';
import { startStandinProcess, type StandinProcess } from '../support/standin-process';

/**
 * The stand-in's inbound-agent model against what Jenkins does (see
 * test/fixtures/standin-jenkins/agents.js for the core classes): the
 * WebSocket handshake's refusals, and the agent secret across a copy of
 * secrets/ and nodes/ to another controller. The master key is read when a
 * controller starts, so a copy under a running controller is only used after
 * its restart; a /reload alone leaves it refusing the agent, and its first
 * look at the copied key replaces it.
 */
jest.setTimeout(60_000);
const USER = 'admin';
const TOKEN = 'admin-token-1';
const KEY_FILE = 'jenkins.slaves.JnlpSlaveAgentProtocol.secret';
const started: StandinProcess[] = [];
const homes: string[] = [];
let ports: { webPort: number; agentPort: number };

async function controller(environment: string, home?: string): Promise<StandinProcess> {
  const port = environment === 'blue' ? ports.webPort : ports.webPort + 100;
  const s = await startStandinProcess(port, { team: 'agents', environment, ...(home ? { home } : {}) });
  started.push(s);
  await s.control({ users: [{ name: USER, token: TOKEN }] });
  return s;
}
const urlOf = (s: StandinProcess): string => `http://127.0.0.1:${s.port}/`;
const headers = (name: string, secret: string): Record<string, string> => ({ 'Node-Name': name, 'Secret-Key': secret, 'X-Remoting-Capability': 'test' });

/** What a migration does with these two trees: the source's files over the target's. */
function copyAgentState(from: string, to: string): void {
  for (const dir of ['secrets', 'nodes']) cpSync(join(from, dir), join(to, dir), { recursive: true, force: true });
}

async function reload(s: StandinProcess): Promise<void> {
  const auth = { Authorization: `Basic ${Buffer.from(`${USER}:${TOKEN}`).toString('base64')}` };
  expect((await fetch(`${urlOf(s)}reload`, { method: 'POST', headers: auth, redirect: 'manual' })).status).toBe(302);
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${urlOf(s)}login`)).status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('reload did not end within 5 s');
}

beforeAll(async () => {
  ports = await freeTeamPorts();
});

afterEach(async () => {
  for (const s of started.splice(0)) await s.close();
});

afterAll(() => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

test('the WebSocket handshake refuses what WebSocketAgents and DefaultJnlpSlaveReceiver refuse', async () => {
  const blue = await controller('blue');
  await blue.control({ nodes: [{ name: 'a1' }, { name: 'ssh1', inbound: false }] });
  const secret = await agentSecret(urlOf(blue).slice(0, -1), USER, TOKEN, 'a1');
  expect(await agentHandshake(urlOf(blue), { 'Node-Name': 'a1', 'Secret-Key': secret })).toBe(400); // no X-Remoting-Capability
  expect(await agentHandshake(urlOf(blue), headers('nobody', secret))).toBe(400); // no such agent
  expect(await agentHandshake(urlOf(blue), headers('a1', secret.replace(/^./, (c) => (c === '0' ? '1' : '0'))))).toBe(403);
  const sshSecret = await agentSecret(urlOf(blue).slice(0, -1), USER, TOKEN, 'ssh1').catch((e: Error) => e.message);
  expect(sshSecret).toMatch(/HTTP 404/); // no JNLP file for a node its controller launches
  expect(await agentHandshake(urlOf(blue), headers('a1', secret))).toBe(101);
});

test('an agent keeps its secret on a controller that started with the copied secrets/; a reload alone is not enough', async () => {
  const blueHome = mkdtempSync(join(tmpdir(), 'jsm-agents-blue-'));
  const greenHome = mkdtempSync(join(tmpdir(), 'jsm-agents-green-'));
  homes.push(blueHome, greenHome);
  const blue = await controller('blue', blueHome);
  await blue.control({ nodes: [{ name: 'a1', labels: ['linux'] }] });
  const secret = await agentSecret(urlOf(blue).slice(0, -1), USER, TOKEN, 'a1');
  let green = await controller('green', greenHome);

  // Copied under the running green, then /reload: nodes/ is read again, the master key is not.
  copyAgentState(blueHome, greenHome);
  await reload(green);
  expect(await agentHandshake(urlOf(green), headers('a1', secret))).toBe(403);
  // Green could not decrypt the copied key with its own master key, so it made a new one and wrote it over the copy.
  expect(readFileSync(join(greenHome, 'secrets', KEY_FILE)).equals(readFileSync(join(blueHome, 'secrets', KEY_FILE)))).toBe(false);

  // Copied again, then green restarts: the same secret is accepted.
  await green.close();
  started.splice(started.indexOf(green), 1);
  copyAgentState(blueHome, greenHome);
  green = await controller('green', greenHome);
  expect(await agentSecret(urlOf(green).slice(0, -1), USER, TOKEN, 'a1')).toBe(secret);
  expect(await agentHandshake(urlOf(green), headers('a1', secret))).toBe(101);
});

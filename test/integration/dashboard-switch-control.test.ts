import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { resolveConfig } from '../../agent/src/config/sidecar-config';
import { createLogger } from '../../agent/src/log';
import { startSidecar, type SidecarHandle } from '../../agent/src/sidecar';
import type { Team } from '../../catalog/teams-file';
import { freeTeamPorts, startBackend, type Backend } from '../support/backends';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { eventually } from '../support/eventually';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { testTeam } from '../support/haproxy-teams';
import { RpcClient, type RpcMessage } from '../support/sidecar-process-rpc';
import { haproxyWeights } from '../support/traffic-stack';

/**
 * The dashboard's Pause / Resume / Promote / Abort buttons in real headless Chromium against a
 * real sidecar (PostgreSQL store, runner, dispatcher, real HAProxy with two backends) steering a
 * real traffic.switch started over JSON-RPC. Its windows are 30 s, so a window never ends on
 * its own while the test looks; the buttons move it on (Promote to 100%, then Promote).
 */
jest.setTimeout(120_000);

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');
const WAIT = { timeout: 20_000 };
const scratch = mkdtempSync(join(tmpdir(), 'jsm-dashctl-'));
const opsToken = `ops_${randomBytes(24).toString('hex')}`;
const teamToken = `team_${randomBytes(24).toString('hex')}`;
let db: TestDatabase;
let team: Team;
let haproxy: HaproxyProcess;
let backends: Backend[] = [];
let sidecar: SidecarHandle;
let browser: BrowserContext;
let page: Page;
let rpc: RpcClient;

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  db = await createTestDatabase('dashctl');
  const ports = await freeTeamPorts();
  team = testTeam({ prefix: 'dashctl', webPort: ports.webPort, agentPort: ports.agentPort });
  backends = [await startBackend(team.environments.blue.web_port, 'blue'), await startBackend(team.environments.green.web_port, 'green')];
  haproxy = await startHaproxy([team]);
  const teamsFile = join(scratch, 'teams.yml');
  writeFileSync(teamsFile, `jenkins_teams:\n  - team_name: ${team.team_name}\n    web_port: ${team.web_port}\n    agent_port: ${team.agent_port}\n`);
  const tokensFile = join(scratch, 'tokens.yml');
  writeFileSync(tokensFile, `tokens:\n  - id: ops\n    sha256: ${sha(opsToken)}\n    teams: ["*"]\n  - id: ${team.team_name}-ci\n    sha256: ${sha(teamToken)}\n    teams: [${team.team_name}]\n`, { mode: 0o600 });
  const dataDir = join(scratch, 'data');
  mkdirSync(dataDir);
  const { config, errors } = resolveConfig(
    {
      SIDECAR_LISTEN: '127.0.0.1:0',
      SIDECAR_DATABASE_URL: db.url,
      SIDECAR_DATA_DIR: dataDir,
      SIDECAR_HAPROXY_SOCKET: haproxy.socketPath,
      SIDECAR_TEAMS_FILE: teamsFile,
      SIDECAR_TOKENS_FILE: tokensFile,
      SIDECAR_INSTANCE_ID: `dashctl-${randomBytes(3).toString('hex')}`,
    },
    { hostname: hostname(), homeDir: scratch, isRoot: process.getuid?.() === 0, cwd: scratch },
  );
  if (!config) throw new Error(errors.join('\n'));
  sidecar = await startSidecar({ config, log: createLogger({ level: 'error', instanceId: config.instanceId, silent: true }) });
  rpc = await RpcClient.connect(sidecar.rpcUrl, opsToken);
  browser = await chromium.launchPersistentContext(join(scratch, 'chromium'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(`${sidecar.httpUrl}/`);
}, 120_000);

afterAll(async () => {
  await rpc?.close();
  await browser?.close().catch(() => undefined);
  await sidecar?.stop('test done').catch(() => undefined);
  await haproxy?.stop().catch(() => undefined);
  for (const b of backends) await b.close().catch(() => undefined);
  await db?.drop().catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const card = (): string => `article.team[data-team="${team.team_name}"]`;

async function signIn(token: string): Promise<void> {
  const before = (await page.getAttribute('body', 'data-snapshot')) ?? '0';
  await page.fill('#token', token);
  await page.click('#token-use');
  await page.waitForSelector('#live[data-state="live"]', WAIT);
  await page.waitForSelector(`body:not([data-snapshot="${before}"])[data-snapshot]`, WAIT);
  await page.waitForSelector(card(), WAIT);
}

async function waitOnCard(selector: string): Promise<void> {
  try {
    await page.waitForSelector(selector, WAIT);
  } catch (err) {
    const html = await page.innerHTML(card()).catch(() => '(no card)');
    throw new Error(`${(err as Error).message}\nteam card was: ${html}`);
  }
}

async function waitNotice(pattern: RegExp): Promise<string> {
  await page.waitForFunction(
    (src: string) => {
      const doc = (globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null } }).document;
      return new RegExp(src).test(doc.getElementById('notice')?.textContent ?? '');
    },
    pattern.source,
    WAIT,
  );
  return (await page.textContent('#notice')) ?? '';
}

/** A button of the team card, its confirmation dialog, the reason typed, confirmed. */
async function press(role: string, reason: string): Promise<void> {
  await page.click(`${card()} [data-role="${role}"]`);
  await page.waitForSelector('#control-dialog[open]', WAIT);
  await page.fill('#control-reason', reason);
  await page.click('#control-confirm');
}

const postControl = (token: string, body: unknown): Promise<Response> =>
  fetch(`${sidecar.httpUrl}/api/v1/switch-control`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

/** A POST with a Host header of our choosing (fetch may not set Host). */
function statusWithHost(host: string): Promise<number> {
  const body = JSON.stringify({ team: team.team_name, command: 'pause', reason: 'from another origin' });
  const url = new URL(`${sidecar.httpUrl}/api/v1/switch-control`);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { Host: host, Authorization: `Bearer ${opsToken}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }, timeout: 10_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

const phaseOf = async (operationId: string): Promise<string> => ((await rpc.call('operation.get', { operationId })).result as { phase: string }).phase;

describe('switch control from the dashboard', () => {
  let operationId: string;
  let answer: Promise<RpcMessage>;
  let lockToken: number;

  beforeAll(async () => {
    const lock = await rpc.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 300, owner: 'dashboard-control-test' });
    lockToken = (lock.result as { token: number }).token;
    answer = rpc.call('traffic.switch', { team: team.team_name, target: 'green', increments: [25, 50, 100], validationSec: 30, sampleIntervalMs: 200, minSamples: 0, drainTimeoutSec: 2, lockToken }, 110_000);
    const step = await eventually('the switch moved its first step', async () => rpc.notifications.find((n) => n.params?.phase === 'step-25') ?? null, 40_000);
    operationId = String(step.params?.operationId);
  });

  it("a team token sees the switch but no buttons, and its POST is refused (403) without touching it", async () => {
    await signIn(teamToken);
    await waitOnCard(`${card()} [data-role="op"][data-operation="${operationId}"] [data-role="control-state"]`);
    expect(await page.$$(`${card()} [data-role="controls"]`)).toHaveLength(0);
    const refused = await postControl(teamToken, { team: team.team_name, command: 'pause', reason: 'a team token trying' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    expect(await phaseOf(operationId)).not.toBe('paused');
    // Not a JSON body: refused before anything runs (a cross-site form cannot send the bearer token either).
    const notJson = await fetch(`${sidecar.httpUrl}/api/v1/switch-control`, { method: 'POST', headers: { Authorization: `Bearer ${opsToken}`, 'Content-Type': 'text/plain' }, body: 'team=x' });
    expect(notJson.status).toBe(400);
    const noToken = await fetch(`${sidecar.httpUrl}/api/v1/switch-control`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ team: team.team_name, command: 'pause', reason: 'no token' }) });
    expect(noToken.status).toBe(401);
    const noReason = await postControl(opsToken, { team: team.team_name, command: 'pause' });
    expect(noReason.status).toBe(400);
    expect(((await noReason.json()) as { error: { fields: Array<{ field: string }> } }).error.fields).toEqual([expect.objectContaining({ field: 'reason' })]);
    // A DNS-rebinding page reaches the listener under a name it controls: the Host check answers first.
    expect(await statusWithHost('attacker.example')).toBe(421);
    expect(await phaseOf(operationId)).not.toBe('paused');
  });

  it('the ops user pauses through the button and its confirmation: the card shows paused (also after a fresh snapshot), weights held; then resumes', async () => {
    await signIn(opsToken);
    await waitOnCard(`${card()} [data-role="control-state"][data-paused="false"]`);
    // The confirmation is a real stop: cancelled, nothing is sent.
    await page.click(`${card()} [data-role="control-abort"]`);
    await page.waitForSelector('#control-dialog[open]', WAIT);
    expect(await page.textContent('#control-title')).toBe(`Abort: ${team.team_name}`);
    await page.click('#control-cancel');
    await page.waitForSelector('#control-dialog[open]', { ...WAIT, state: 'detached' });
    expect(((await rpc.call('operation.get', { operationId })).result as { status: string }).status).toBe('running');
    expect(await haproxyWeights(haproxy, team)).toEqual({ blue: 75, green: 25 });
    await press('control-pause', 'checking the 25% side');
    expect(await waitNotice(/Pause (for \S+: paused|refused)/)).toMatch(/Pause for \S+: paused \(taken\)/);
    await waitOnCard(`${card()} [data-role="control-state"][data-paused="true"]`);
    expect(await page.textContent(`${card()} [data-role="control-state"]`)).toMatch(/paused at 25% since \S+ \S+ by ops/);
    expect(await page.getAttribute(`${card()} [data-role="control-pause"]`, 'disabled')).not.toBeNull();
    await eventually('the journal shows the switch paused', async () => ((await phaseOf(operationId)) === 'paused' ? true : null), 20_000);
    expect(await haproxyWeights(haproxy, team)).toEqual({ blue: 75, green: 25 });
    // The same state from the journal alone: sign in again (live state cleared, snapshot re-read).
    await signIn(opsToken);
    await waitOnCard(`${card()} [data-role="control-state"][data-paused="true"]`);
    expect(await page.textContent(`${card()} [data-role="control-state"]`)).toMatch(/^paused at 25% since \S+ \S+ by ops — checking the 25% side/);
    await page.waitForSelector('#audit tbody tr:has-text("traffic.pause"):has-text("checking the 25% side")', WAIT);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-switch-paused.png'), fullPage: true });
    // Audited as the RPC is: one traffic.pause row, by the ops token, with the reason typed in the dialog.
    const audit = (await (await fetch(`${sidecar.httpUrl}/api/v1/audit?type=traffic.pause&limit=5`, { headers: { Authorization: `Bearer ${opsToken}` } })).json()) as { audit: unknown[] };
    expect(audit.audit).toEqual([
      expect.objectContaining({ initiatedBy: 'ops', status: 'SUCCESS', metadata: expect.objectContaining({ params: { team: team.team_name, reason: 'checking the 25% side', operationId } }) }),
    ]);

    await press('control-resume', 'the 25% side is fine');
    expect(await waitNotice(/Resume (for \S+: running|refused)/)).toContain(': running');
    await waitOnCard(`${card()} [data-role="control-state"][data-paused="false"]`);
    await eventually('the switch left paused', async () => ((await phaseOf(operationId)) !== 'paused' ? true : null), 20_000);
  });

  it('Promote to 100% and then Promote finish the switch: all on green', async () => {
    await press('control-promote-full', 'ship it');
    // Taken at once the window's next sample consumes it: the state after is running again, towards 100%.
    expect(await waitNotice(/Promote to 100% (for \S+: (running|promote-requested)|refused)/)).toMatch(/for \S+: (running \(taken\)|promote-requested)/);
    await waitOnCard(`${card()} [data-role="phase"]:text-is("step-100")`);
    await press('control-promote', 'clean at 100%');
    const done = await answer;
    expect(done.error).toBeUndefined();
    await waitNotice(/traffic\.switch succeeded/);
    expect(await haproxyWeights(haproxy, team)).toEqual({ blue: 0, green: 100 });
    // With no switch running the button's call says so and changes nothing.
    const none = await postControl(opsToken, { team: team.team_name, command: 'pause', reason: 'nothing runs now' });
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining(`no switch of ${team.team_name} is running`) });
    await rpc.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token: lockToken });
  });

  it('Abort and hold on a second switch: it ends aborted with the weights where they were', async () => {
    const lock = await rpc.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 300, owner: 'dashboard-control-test' });
    const token = (lock.result as { token: number }).token;
    const seen = rpc.notifications.length;
    const back = rpc.call('traffic.switch', { team: team.team_name, target: 'blue', increments: [25, 50, 100], validationSec: 30, sampleIntervalMs: 200, minSamples: 0, drainTimeoutSec: 2, lockToken: token }, 110_000);
    const step = await eventually('the second switch moved its first step', async () => rpc.notifications.slice(seen).find((n) => n.params?.phase === 'step-25') ?? null, 40_000);
    const second = String(step.params?.operationId);
    await waitOnCard(`${card()} [data-role="op"][data-operation="${second}"] [data-role="control-abort-hold"]`);
    await press('control-abort-hold', 'hold here while we look');
    const answer = await back;
    expect(answer.error?.data).toMatchObject({ code: 'CONFLICT', reason: 'aborted', weights: { blue: 25, green: 75 } });
    await waitNotice(/traffic\.switch aborted/);
    expect(((await rpc.call('operation.get', { operationId: second })).result as { status: string }).status).toBe('aborted');
    expect(await haproxyWeights(haproxy, team)).toEqual({ blue: 25, green: 75 });
    await rpc.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token });
  });
});

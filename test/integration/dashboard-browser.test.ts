import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { resolveConfig } from '../../agent/src/config/sidecar-config';
import { createLogger } from '../../agent/src/log';
import { startSidecar, type SidecarHandle } from '../../agent/src/sidecar';
import type { OperationContext } from '../../agent/src/store/contract';
import type { Team } from '../../catalog/teams-file';
import { freeTeamPorts, startBackend, type Backend } from '../support/backends';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startLoad } from '../support/haproxy-load';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { testTeam } from '../support/haproxy-teams';

/**
 * The dashboard in real headless Chromium against a real sidecar (startSidecar:
 * real store on PostgreSQL, real runner and event bus, real HAProxy with two
 * backends). Two switches: a paced operation through the sidecar's own runner
 * whose steps the test releases only after the page has shown the previous one
 * (so "live, not polled" is checked without timing), then a real traffic.switch
 * over JSON-RPC under load, whose every step the page must show before the end.
 */
// The project-level testTimeout is not applied per file by jest 30; starting Chromium, HAProxy and a sidecar on a busy machine takes a while.
jest.setTimeout(60_000);

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');
const WAIT = { timeout: 15_000 };

const scratch = mkdtempSync(join(tmpdir(), 'jsm-dash-'));
const opsToken = `ops_${randomBytes(24).toString('hex')}`;
const teamToken = `team_${randomBytes(24).toString('hex')}`;
const otherTeamToken = `team_${randomBytes(24).toString('hex')}`;
let db: TestDatabase;
let team: Team;
let haproxy: HaproxyProcess;
let backends: Backend[] = [];
let sidecar: SidecarHandle;
let browser: BrowserContext;
let page: Page;

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  db = await createTestDatabase('dash');
  const ports = await freeTeamPorts();
  team = testTeam({ prefix: 'dash', webPort: ports.webPort, agentPort: ports.agentPort });
  backends = [await startBackend(team.environments.blue.web_port, 'blue'), await startBackend(team.environments.green.web_port, 'green')];
  haproxy = await startHaproxy([team]);

  const teamsFile = join(scratch, 'teams.yml');
  writeFileSync(teamsFile, `jenkins_teams:\n  - team_name: ${team.team_name}\n    web_port: ${team.web_port}\n    agent_port: ${team.agent_port}\n`);
  const tokensFile = join(scratch, 'tokens.yml');
  writeFileSync(
    tokensFile,
    `tokens:\n  - id: ops\n    sha256: ${sha(opsToken)}\n    teams: ["*"]\n  - id: ${team.team_name}-ci\n    sha256: ${sha(teamToken)}\n    teams: [${team.team_name}]\n  - id: other-ci\n    sha256: ${sha(otherTeamToken)}\n    teams: [other-team]\n`,
    { mode: 0o600 },
  );
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
      SIDECAR_INSTANCE_ID: `dash-${randomBytes(3).toString('hex')}`,
    },
    { hostname: hostname(), homeDir: scratch, isRoot: process.getuid?.() === 0, cwd: scratch },
  );
  if (!config) throw new Error(errors.join('\n'));
  sidecar = await startSidecar({ config, log: createLogger({ level: 'error', instanceId: config.instanceId, silent: true }) });

  browser = await chromium.launchPersistentContext(join(scratch, 'chromium'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(`${sidecar.httpUrl}/`);
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await sidecar?.stop('test done').catch(() => undefined);
  await haproxy?.stop().catch(() => undefined);
  for (const b of backends) await b.close().catch(() => undefined);
  await db?.drop().catch(() => undefined);
  // Chromium may still be flushing its profile for a moment after close().
  rmSync(scratch, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

/** Signs in and waits until the live channel is up and the read-API snapshot has landed. */
async function signIn(token: string): Promise<void> {
  const before = (await page.getAttribute('body', 'data-snapshot')) ?? '0';
  await page.fill('#token', token);
  await page.click('#token-use');
  await page.waitForSelector('#live[data-state="live"]', WAIT);
  await page.waitForSelector(`body:not([data-snapshot="${before}"])[data-snapshot]`, WAIT);
  await page.waitForSelector(`article.team[data-team="${team.team_name}"]`, WAIT);
}

/** waitForSelector that says what the team card showed when it gives up. */
async function waitOnCard(selector: string): Promise<void> {
  try {
    await page.waitForSelector(selector, WAIT);
  } catch (err) {
    const html = await page.innerHTML(card()).catch(() => '(no card)');
    throw new Error(`${(err as Error).message}\nteam card was: ${html}`);
  }
}

const card = (): string => `article.team[data-team="${team.team_name}"]`;
const noticeText = async (): Promise<string> => (await page.textContent('#notice')) ?? '';

async function waitNotice(pattern: RegExp): Promise<string> {
  // Runs in the page; a function (not a string) because the page's CSP forbids eval.
  // This file is compiled without the DOM types, hence the cast.
  await page.waitForFunction(
    (src: string) => {
      const doc = (globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null } }).document;
      return new RegExp(src).test(doc.getElementById('notice')?.textContent ?? '');
    },
    pattern.source,
    WAIT,
  );
  return noticeText();
}

describe('dashboard in headless Chromium', () => {
  it('keeps the token out of URLs and storage other than sessionStorage', async () => {
    await signIn(teamToken);
    expect(page.url()).toBe(`${sidecar.httpUrl}/`);
    const stored = (await page.evaluate('({ session: Object.values(sessionStorage), local: Object.values(localStorage) })')) as { session: string[]; local: string[] };
    expect(stored.session).toEqual([teamToken]);
    expect(stored.local).toEqual([]);
    expect(await page.textContent('#who')).toContain(`${team.team_name}-ci`);
  });

  it("shows a switch's phases, weights and SLI samples as they happen, pushed rather than polled", async () => {
    // A real lease in the store, as a pipeline holds during its switch: the page lists it with holder and expiry.
    const holder = `${team.team_name}/Infrastructure/Self-Managed-Blue-Green-Switch#7`;
    const lease = await sidecar.store.locks.acquire({
      team: team.team_name,
      operation: 'blue_green_switch',
      ttlSec: 600,
      waitSec: 0,
      owner: holder,
      actor: { tokenId: 'ops', instanceId: sidecar.instanceId },
    });
    await signIn(opsToken);
    const lockRow = `#locks tbody tr:has-text("${team.team_name}:blue_green_switch")`;
    await page.waitForSelector(lockRow, WAIT);
    expect(await page.textContent(lockRow)).toMatch(new RegExp(`${holder.replace(/[/#]/g, '.')}${lease.token}.*\\(in \\d+ s\\)`));
    const gates: Array<() => void> = [];
    const steps = [5, 25, 100];
    const body = async (ctx: OperationContext): Promise<unknown> => {
      for (const [i, pct] of steps.entries()) {
        ctx.progress({ phase: `step-${pct}`, message: `${pct}% of ${team.team_name} traffic on green`, step: pct, weights: { blue: 100 - pct, green: pct } });
        ctx.progress({
          phase: `step-${pct}`,
          message: `${pct}% validated`,
          step: pct,
          figures: { samples: 5, requests: 40 + i, errors: 0, errorRate: 0.2 * i, responseTimeMs: 120 + 40 * i, availability: 100 },
        });
        await new Promise<void>((release) => gates.push(release));
      }
      return { status: 'promoted' };
    };
    const run = sidecar.runner.run(
      { type: 'test.paced-switch', team: team.team_name, params: { team: team.team_name, target: 'green' }, actor: { tokenId: 'ops', instanceId: sidecar.instanceId } },
      body,
    );

    const apiCalls: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/v1/') && !r.url().endsWith('/api/v1/events')) apiCalls.push(r.url());
    });

    for (const [i, pct] of steps.entries()) {
      await waitOnCard(`${card()} [data-role="phase"]:text-is("step-${pct}")`);
      await waitOnCard(`${card()} [data-role="weights"][data-green="${pct}"][data-blue="${100 - pct}"]`);
      await waitOnCard(`${card()} [data-role="chart"][data-samples="${i + 1}"]`);
      expect(await page.getAttribute(`${card()} [data-role="progress"]`, 'value')).toBe(String(pct));
      expect(await page.textContent(`#operations tbody`)).toContain('test.paced-switch');
      if (pct === 25) {
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
      }
      // Nothing was fetched while the step arrived: it came over the live channel.
      expect(apiCalls).toEqual([]);
      gates.shift()?.();
    }
    const outcome = await run;
    expect(outcome.result).toEqual({ status: 'promoted' });
    await waitNotice(/test\.paced-switch succeeded/);
    await waitOnCard(`${card()} [data-role="op"]:text-is("no operation in flight")`);
    await sidecar.store.locks.release({ team: team.team_name, operation: 'blue_green_switch', token: lease.token, owner: holder, actor: { tokenId: 'ops', instanceId: sidecar.instanceId } });
  });

  it('follows a real traffic.switch started over JSON-RPC: every step before the end, the SLI chart, the new weights', async () => {
    await signIn(opsToken);
    // Record every phase the team card shows, in order, as the DOM changes.
    await page.evaluate(`(() => {
      window.__phases = [];
      const record = () => {
        const card = 'article.team[data-team="${team.team_name}"] ';
        const phase = document.querySelector(card + '[data-role="phase"]');
        const op = document.querySelector(card + '[data-role="op"]');
        const text = phase ? phase.textContent : op ? op.textContent : '';
        if (window.__phases[window.__phases.length - 1] !== text) window.__phases.push(text);
      };
      new MutationObserver(record).observe(document.getElementById('teams'), { subtree: true, childList: true, characterData: true });
    })()`);
    const rpc = await rpcClient(opsToken);
    const load = startLoad(haproxy.httpPort, { connections: 4, maxSeconds: 50 });
    try {
      const lock = (await rpc.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 120, owner: 'dashboard-test' })) as { token: number };
      const result = (await rpc.call('traffic.switch', {
        team: team.team_name,
        target: 'green',
        validationSec: 1,
        sampleIntervalMs: 200,
        minSamples: 10,
        lockToken: lock.token,
      })) as { status: string };
      expect(result.status).toBe('promoted');
      await rpc.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', token: lock.token });
    } finally {
      await load.stop();
      rpc.close();
    }
    await waitNotice(/traffic\.switch succeeded/);
    await waitOnCard(`${card()} [data-role="op"]:text-is("no operation in flight")`);
    const seen = (await page.evaluate('window.__phases')) as string[];
    // Each step was on screen while the switch ran, in order, before "no operation in flight".
    const stepsSeen = seen.filter((t) => /^(step-\d+|drain|done)$/.test(t));
    for (const step of ['step-5', 'step-10', 'step-25', 'step-50', 'step-100']) expect(stepsSeen).toContain(step);
    expect(stepsSeen.indexOf('step-5')).toBeLessThan(stepsSeen.indexOf('step-100'));
    expect(seen[seen.length - 1]).toBe('no operation in flight');
    expect(Number(await page.getAttribute(`${card()} [data-role="chart"]`, 'data-samples'))).toBeGreaterThanOrEqual(5);
    await page.waitForSelector(`${card()} [data-role="active"]:text-is("active: green")`, WAIT);
    await page.waitForSelector(`${card()} [data-role="weights"][data-green="100"][data-blue="0"]`, WAIT);
    expect(await weightsInHaproxy()).toEqual({ blue: 0, green: 100 });
    await page.waitForSelector(`#audit tbody tr:has-text("traffic.switch")`, WAIT);
  });

  it("refuses the emergency stop without a token and with another team's token, and changes nothing", async () => {
    await signIn(teamToken);
    const before = await weightsInHaproxy();

    await page.click(`${card()} [data-role="stop"]`);
    expect(await page.inputValue('#stop-token')).toBe(teamToken); // the team's own session may stop its switch
    await page.fill('#stop-token', '');
    await page.fill('#stop-reason', 'pressing the button without a token');
    await page.click('#stop-confirm');
    expect(await waitNotice(/emergency stop refused/)).toContain('UNAUTHORIZED');

    await page.click(`${card()} [data-role="stop"]`);
    await page.fill('#stop-token', otherTeamToken);
    await page.fill('#stop-reason', "pressing the button with another team's token");
    await page.click('#stop-confirm');
    expect(await waitNotice(/emergency stop refused: FORBIDDEN/)).toContain(`not ${team.team_name}`);

    expect(await weightsInHaproxy()).toEqual(before);
  });

  it('stops with the ops token: all traffic goes back to blue at once in the real HAProxy and the audit trail shows why', async () => {
    await signIn(opsToken);
    await page.click(`${card()} [data-role="stop"]`);
    expect(await page.inputValue('#stop-token')).toBe(opsToken);
    await page.fill('#stop-reason', 'dashboard emergency test');
    await page.selectOption('#stop-target', 'blue');
    await page.click('#stop-confirm');
    const text = await waitNotice(/emergency stop (for \S+ done|refused)/);
    expect(text).toContain('done: active blue');

    expect(await weightsInHaproxy()).toEqual({ blue: 100, green: 0 });
    await page.waitForSelector(`${card()} [data-role="weights"][data-green="0"][data-blue="100"]`, WAIT);
    await page.waitForSelector(`#audit tbody tr:has-text("dashboard emergency test")`, WAIT);
    expect(await page.textContent('#audit tbody')).toContain('rollback.emergency');
  });
});

async function weightsInHaproxy(): Promise<{ blue: number; green: number }> {
  const stats = await haproxy.runtime.showStat();
  const weightOf = (server: string): number => stats.find((s) => s.backend === team.haproxy_backend && s.server === server)?.weight ?? -1;
  return { blue: weightOf(team.environments.blue.server), green: weightOf(team.environments.green.server) };
}

/** A minimal JSON-RPC client over the sidecar's real WebSocket endpoint (progress notifications ignored). */
async function rpcClient(token: string): Promise<{ call(method: string, params: Record<string, unknown>): Promise<unknown>; close(): void }> {
  const ws = new WebSocket(sidecar.rpcUrl, { headers: { Authorization: `Bearer ${token}` } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string; data?: { code?: string } } };
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(`${msg.error.data?.code ?? 'RPC'}: ${msg.error.message}`));
    else p?.resolve(msg.result);
  });
  return {
    call(method, params) {
      const id = nextId++;
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    close: () => ws.close(),
  };
}

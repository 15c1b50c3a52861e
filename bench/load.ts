/**
 * Load on one real jenkins-sidecar: 50 concurrent RPC clients (10 teams × 5,
 * each team with its own token, as Jenkins teams would) doing lock.acquire →
 * environment.status → lock.release on their own locks plus a contended
 * per-team lock, bounded in count and time. Prints unexpected errors, p50/p99
 * per method, and the audit rows expected (one per answered mutating call)
 * against those found in PostgreSQL. Phase 2 repeats the load while two other
 * teams run traffic.switch through a real HAProxy under HTTP load.
 * Prints figures; asserts nothing.
 *
 *   node build/bench/load.js            (or: npm run bench -- load)
 */
import { Client } from 'pg';
import { freeTeamPorts, startBackend, type Backend } from '../test/support/backends';
import { startHaproxy, type HaproxyProcess } from '../test/support/haproxy-process';
import { startLoad } from '../test/support/haproxy-load';
import { testTeam } from '../test/support/haproxy-teams';
import { RpcClient, type RpcMessage } from '../test/support/sidecar-process-rpc';
import { machineLine, percentile, printBenchJson, startBenchStack, type BenchRow } from './_stack';

const TEAMS = 10;
const CLIENTS_PER_TEAM = 5;
const ITERATIONS = 30;
const PHASE_MAX_MS = 30_000;
const suffix = Math.random().toString(16).slice(2, 8);
const loadTeam = (i: number): string => `lt${i}-${suffix}`;

interface PhaseFigures {
  calls: number;
  unexpected: number;
  lockHeld: number;
  mutatingAnswered: number;
  latency: Record<string, number[]>;
  firstErrors: string[];
  ms: number;
}

async function auditCount(url: string): Promise<number> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>("SELECT count(*)::text AS n FROM deployment_audit WHERE operation_type IN ('lock.acquire', 'lock.release')");
    return Number(r.rows[0]!.n);
  } finally {
    await c.end();
  }
}

async function rpcLoad(rpcUrl: string, secrets: Record<string, string>): Promise<PhaseFigures> {
  const f: PhaseFigures = { calls: 0, unexpected: 0, lockHeld: 0, mutatingAnswered: 0, latency: {}, firstErrors: [], ms: 0 };
  const started = Date.now();
  const deadline = started + PHASE_MAX_MS;
  const timed = async (c: RpcClient, method: string, params: Record<string, unknown>, expected: string[] = []): Promise<RpcMessage> => {
    const t = process.hrtime.bigint();
    const m = await c.call(method, params, 20_000);
    (f.latency[method] ??= []).push(Number(process.hrtime.bigint() - t) / 1e6);
    f.calls++;
    if (method === 'lock.acquire' || method === 'lock.release') f.mutatingAnswered++;
    const code = m.error?.data?.code as string | undefined;
    if (m.error && code === 'LOCK_HELD') f.lockHeld++;
    if (m.error && !(code && expected.includes(code))) {
      f.unexpected++;
      if (f.firstErrors.length < 5) f.firstErrors.push(`${method}: ${m.error.code} ${code ?? ''} ${m.error.message}`);
    }
    return m;
  };
  const clients: Array<{ team: string; k: number; c: RpcClient }> = [];
  for (let t = 0; t < TEAMS; t++) {
    for (let k = 0; k < CLIENTS_PER_TEAM; k++) clients.push({ team: loadTeam(t), k, c: await RpcClient.connect(rpcUrl, secrets[`team-${t}`]!) });
  }
  await Promise.all(
    clients.map(async ({ team, k, c }) => {
      for (let i = 0; i < ITERATIONS && Date.now() < deadline; i++) {
        const own = await timed(c, 'lock.acquire', { team, operation: `client_${k}`, ttlSec: 30, owner: `${team}/job#${k}` });
        await timed(c, 'environment.status', { team });
        if (own.result) await timed(c, 'lock.release', { team, operation: `client_${k}`, token: (own.result as { token: number }).token });
        // The contended lock: five clients of a team race for it; LOCK_HELD is the expected refusal.
        const shared = await timed(c, 'lock.acquire', { team, operation: 'shared', ttlSec: 30, owner: `${team}/job#${k}` }, ['LOCK_HELD']);
        if (shared.result) await timed(c, 'lock.release', { team, operation: 'shared', token: (shared.result as { token: number }).token });
      }
    }),
  );
  await Promise.all(clients.map(({ c }) => c.close()));
  f.ms = Date.now() - started;
  return f;
}

function report(name: string, f: PhaseFigures, auditExpected: number, auditFound: number): BenchRow[] {
  const all = Object.values(f.latency).flat();
  console.log(`\n[${name}] ${f.calls} calls in ${(f.ms / 1000).toFixed(1)} s (${((f.calls * 1000) / f.ms).toFixed(0)} calls/s) by ${TEAMS * CLIENTS_PER_TEAM} clients`);
  console.log(`  unexpected errors: ${f.unexpected}${f.firstErrors.length ? ` (first: ${f.firstErrors.join(' | ')})` : ''}; LOCK_HELD on the contended locks: ${f.lockHeld}`);
  for (const [m, xs] of Object.entries(f.latency)) console.log(`  ${m.padEnd(20)} p50 ${percentile(xs, 50).toFixed(2)} ms  p99 ${percentile(xs, 99).toFixed(2)} ms  (n=${xs.length})`);
  console.log(`  audit rows for lock.acquire/lock.release: expected ${auditExpected}, found ${auditFound}`);
  return [
    { metric: `${name}: rpc p50 (50 clients)`, ours: percentile(all, 50), baseline: null, unit: 'ms' },
    { metric: `${name}: rpc p99 (50 clients)`, ours: percentile(all, 99), baseline: null, unit: 'ms' },
    { metric: `${name}: unexpected errors`, ours: f.unexpected, baseline: null, unit: 'count' },
    { metric: `${name}: audit rows found / expected`, ours: auditFound, baseline: auditExpected, unit: 'rows' },
  ];
}

async function main(): Promise<void> {
  console.log(machineLine());
  const switchPorts = [await freeTeamPorts(), await freeTeamPorts()];
  const switchTeams = switchPorts.map((p) => testTeam({ prefix: 'sw', ...p }));
  const teamsYaml = [
    'jenkins_teams:',
    ...Array.from({ length: TEAMS }, (_, i) => [`  - team_name: ${loadTeam(i)}`, `    web_port: ${31_000 + i}`, `    agent_port: ${41_000 + i}`]).flat(),
    ...switchTeams.map((t) => [`  - team_name: ${t.team_name}`, `    web_port: ${t.web_port}`, `    agent_port: ${t.agent_port}`]).flat(),
  ].join('\n');
  const backends: Backend[] = [];
  for (const t of switchTeams) {
    backends.push(await startBackend(t.environments.blue.web_port, `${t.team_name}-blue`), await startBackend(t.environments.green.web_port, `${t.team_name}-green`));
  }
  let hap: HaproxyProcess | null = null;
  const rows: BenchRow[] = [];
  try {
    hap = await startHaproxy(switchTeams);
    const stack = await startBenchStack(
      [{ id: 'ops', teams: ['*'] }, ...Array.from({ length: TEAMS }, (_, i) => ({ id: `team-${i}`, teams: [loadTeam(i)] }))],
      { SIDECAR_HAPROXY_SOCKET: hap.socketPath },
      teamsYaml,
    );
    try {
      const sc = stack.sidecar;
      // Phase 1: RPC load alone.
      const a0 = await auditCount(stack.pg.url);
      const p1 = await rpcLoad(sc.rpcUrl, sc.secrets);
      rows.push(...report('lock/status load', p1, p1.mutatingAnswered, (await auditCount(stack.pg.url)) - a0));

      // Phase 2: the same load while two teams switch blue → green under HTTP load through HAProxy.
      const ops = await RpcClient.connect(sc.rpcUrl, sc.secrets['ops']!);
      const http = switchTeams.map((t) => startLoad(hap!.httpPort, { connections: 4, maxSeconds: 90, rate: 200, path: `/${t.team_name}/job/load` }));
      const switches = switchTeams.map(async (t) => {
        const started = Date.now();
        const lock = await ops.call('lock.acquire', { team: t.team_name, operation: 'blue_green_switch', ttlSec: 600, owner: `${t.team_name}/switch#1` });
        if (lock.error) return { team: t.team_name, ok: false, detail: `lock: ${lock.error.message}`, ms: Date.now() - started };
        const sw = await ops.call(
          'traffic.switch',
          { team: t.team_name, target: 'green', increments: [10, 50, 100], validationSec: 1, minSamples: 20, drainTimeoutSec: 2, lockToken: (lock.result as { token: number }).token },
          120_000,
        );
        return { team: t.team_name, ok: !sw.error, detail: sw.error ? `${sw.error.data?.code ?? sw.error.code}: ${sw.error.message}` : String((sw.result as { status?: string }).status), ms: Date.now() - started };
      });
      const a1 = await auditCount(stack.pg.url);
      const p2 = await rpcLoad(sc.rpcUrl, sc.secrets);
      const a2 = await auditCount(stack.pg.url);
      const outcomes = await Promise.all(switches);
      const httpTotals = await Promise.all(http.map((h) => h.stop()));
      await ops.close();
      rows.push(...report('lock/status load during two switches', p2, p2.mutatingAnswered, a2 - a1));
      for (const [i, o] of outcomes.entries()) {
        const h = httpTotals[i]!;
        console.log(`  switch ${o.team}: ${o.ok ? 'ok' : 'FAILED'} (${o.detail}) in ${(o.ms / 1000).toFixed(1)} s; HTTP through HAProxy: ${h.requests} requests, ${h.non2xx} non-2xx, ${h.errors} errors`);
      }
      rows.push(
        { metric: 'switches completed during RPC load', ours: outcomes.filter((o) => o.ok).length, baseline: outcomes.length, unit: 'switches' },
        { metric: 'HTTP errors through HAProxy during switches', ours: httpTotals.reduce((n, h) => n + h.non2xx + h.errors, 0), baseline: null, unit: 'count' },
      );
    } finally {
      await stack.stop();
    }
  } finally {
    await hap?.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
  printBenchJson(rows);
}

main().catch((err: Error) => {
  process.stderr.write(`bench/load: ${err.stack ?? err.message}\n`);
  process.exit(1);
});

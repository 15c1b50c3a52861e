/**
 * bench/switch.ts — traffic switching figures on this machine, printed (not asserted):
 *  1. a full blue→green switch with 1 s validation windows: total time and the overhead over the windows' sum;
 *  2. breach → all traffic back: median and max over several runs (target answers 500 to 30%);
 *  3. Runtime API command latency (set weight, show stat);
 *  4. errors under load: a Runtime API switch beside a config-rewrite + reload switch, same run;
 *  5. failed requests of signed-in people (cookie jars, crumbs; stand-in controllers) beside
 *     anonymous traffic through the same switch.
 * Real haproxy, real backends on 127.0.0.1, embedded PostgreSQL in a temp dir.
 * Ends with `BENCH_JSON {...}` for scripts/bench.mjs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trafficSwitchParams } from '../catalog/methods/traffic';
import { startEmbeddedPostgres } from '../agent/src/store/embedded-postgres';
import { OperationRunner } from '../agent/src/operations/runner';
import { createPgStore } from '../agent/src/store';
import type { Actor } from '../agent/src/store/contract';
import { runTrafficSwitch, trafficDeps } from '../agent/src/traffic/switch';
import { freeTeamPorts, startBackend } from '../test/support/backends';
import { startHaproxy } from '../test/support/haproxy-process';
import { startLoad } from '../test/support/haproxy-load';
import { testTeam } from '../test/support/haproxy-teams';
import { benchPeopleBesideAnonymous } from './_switch-people';
import { setTimeout as sleep } from 'node:timers/promises';

const RUNS = Number(process.env.BENCH_SWITCH_RUNS ?? 5);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

async function main(): Promise<void> {
  const pgDir = mkdtempSync(join(tmpdir(), 'jsm-bench-switch-pg-'));
  const pg = await startEmbeddedPostgres({ dataDir: pgDir });
  const store = await createPgStore({
    connectionString: pg.url,
    instanceId: 'bench-switch',
    // Rollback runs on purpose: the breaker must not open between them.
    breakerPolicy: () => ({ maxFailures: 1_000_000, failureWindowMs: 60_000, recoveryMs: 1_000, trialTimeoutMs: 60_000 }),
  });
  const ports = await freeTeamPorts();
  const team = testTeam({ prefix: 'bs', ...ports });
  const blue = await startBackend(team.environments.blue.web_port, 'blue');
  const green = await startBackend(team.environments.green.web_port, 'green');
  const hap = await startHaproxy([team]);
  const runner = new OperationRunner({ journal: store.journal, clock: { now: () => new Date() } });
  const deps = trafficDeps({ store, haproxy: hap.runtime, teamConfig: () => team });
  const actor: Actor = { tokenId: 'bench', instanceId: 'bench-switch' };
  const backend = team.haproxy_backend;
  const servers = team.environments;
  const rows: Array<{ metric: string; ours: number; baseline: number | string; unit: string }> = [];
  const out = (line: string): void => void process.stdout.write(`${line}\n`);

  const lock = async (): Promise<number> => {
    await store.locks.release({ team: team.team_name, operation: 'blue_green_switch', owner: 'bench', actor }).catch(() => undefined);
    return (await store.locks.acquire({ team: team.team_name, operation: 'blue_green_switch', ttlSec: 600, waitSec: 0, owner: 'bench', actor })).token;
  };
  const switchTo = async (target: 'blue' | 'green', extra: Record<string, unknown>, onPhase?: (phase: string) => void): Promise<unknown> => {
    const params = trafficSwitchParams.parse({ team: team.team_name, target, validationSec: 1, minSamples: 20, lockToken: await lock(), drainTimeoutSec: 2, ...extra });
    return runner
      .run({ type: 'traffic.switch', team: team.team_name, params, actor, onProgress: (e) => onPhase?.(String(e.phase)) }, (ctx) => runTrafficSwitch(deps, params, ctx))
      .then((o) => o.result);
  };
  const setWeights = (b: number, g: number): Promise<void> =>
    hap.runtime.setWeights([
      { backend, server: servers.blue.server, weight: b },
      { backend, server: servers.green.server, weight: g },
    ]);
  const waitUp = async (server: string): Promise<void> => {
    for (let i = 0; i < 100; i += 1) {
      const s = (await hap.runtime.showStat()).find((x) => x.backend === backend && x.server === server);
      if (s?.status === 'UP') return;
      await sleep(100);
    }
  };

  try {
    // ---- 1. full switch, 1 s windows, sampling once a second ----
    const load = startLoad(hap.httpPort, { connections: 4, maxSeconds: 600, rate: 400 });
    const totals: number[] = [];
    let target: 'blue' | 'green' = 'green';
    for (let i = 0; i < Math.min(RUNS, 3); i += 1) {
      const t0 = Date.now();
      await switchTo(target, {});
      totals.push(Date.now() - t0);
      target = target === 'green' ? 'blue' : 'green';
    }
    const windowsMs = 5 * 1000;
    out(`full switch (increments 5,10,25,50,100; 1 s windows; sampling 1/s): median ${median(totals)} ms, max ${Math.max(...totals)} ms; windows sum ${windowsMs} ms; overhead median ${median(totals) - windowsMs} ms`);
    rows.push({ metric: 'full switch, 5 windows of 1 s', ours: median(totals), baseline: windowsMs, unit: 'ms (baseline: windows sum)' });
    rows.push({ metric: 'switch overhead over windows', ours: median(totals) - windowsMs, baseline: '', unit: 'ms' });

    // ---- 2. breach → all traffic back ----
    const active = (await store.environments.get(team.team_name))!.active;
    const to = active === 'blue' ? 'green' : 'blue';
    const bad = to === 'green' ? green : blue;
    const fromDecision: number[] = [];
    const fromInjection: number[] = [];
    for (let i = 0; i < RUNS; i += 1) {
      await waitUp(servers[to].server);
      let injectedAt = 0;
      try {
        await switchTo(to, { increments: [25, 100], sampleIntervalMs: 1000 }, (phase) => {
          if (phase === 'step-25' && !injectedAt) {
            injectedAt = Date.now();
            bad.set({ errorRate: 0.3 });
          }
        });
        out('breach run: the switch was not rolled back (unexpected)');
      } catch (err) {
        const data = (err as { data?: { rollbackMs?: number; rolledBackAt?: string } }).data ?? {};
        if (typeof data.rollbackMs === 'number' && data.rolledBackAt) {
          fromDecision.push(data.rollbackMs);
          fromInjection.push(Date.parse(data.rolledBackAt) - injectedAt);
        }
      } finally {
        bad.set({ errorRate: 0 });
      }
    }
    out(`breach → all traffic back (deciding sample → weights applied) over ${fromDecision.length} runs: median ${median(fromDecision)} ms, max ${Math.max(...fromDecision)} ms`);
    out(`breach → all traffic back (500s injected → weights applied, includes waiting for the next 1 s sample): median ${median(fromInjection)} ms, max ${Math.max(...fromInjection)} ms`);
    rows.push({ metric: 'breach→traffic back (decision→applied) median', ours: median(fromDecision), baseline: '', unit: 'ms' });
    rows.push({ metric: 'breach→traffic back (decision→applied) max', ours: Math.max(...fromDecision), baseline: '', unit: 'ms' });
    rows.push({ metric: 'breach→traffic back (injection→applied) median', ours: median(fromInjection), baseline: 2000, unit: 'ms (baseline: acceptance bound)' });
    const loadTotals = await load.stop();
    out(`load during 1-2: ${loadTotals.requests} requests, ${loadTotals.non2xx} non-2xx (the injected 500s), ${loadTotals.errors} errors`);

    // ---- 3. runtime command latency ----
    const state = (await store.environments.get(team.team_name))!;
    const setLat: number[] = [];
    for (let i = 0; i < 300; i += 1) {
      const t = process.hrtime.bigint();
      await setWeights(state.weights.blue, state.weights.green);
      setLat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const statLat: number[] = [];
    for (let i = 0; i < 300; i += 1) {
      const t = process.hrtime.bigint();
      await hap.runtime.showStat();
      statLat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    out(`runtime API (one connection per command): set both weights median ${median(setLat).toFixed(3)} ms p99 ${pct(setLat, 99).toFixed(3)} ms; show stat median ${median(statLat).toFixed(3)} ms p99 ${pct(statLat, 99).toFixed(3)} ms`);
    rows.push({ metric: 'runtime set weights (2 servers) median', ours: median(setLat), baseline: '', unit: 'ms' });
    rows.push({ metric: 'runtime show stat median', ours: median(statLat), baseline: '', unit: 'ms' });

    // ---- 4. errors under load: runtime-API switch vs config rewrite + reload ----
    await hap.runtime.setState(backend, servers.blue.server, 'ready');
    await hap.runtime.setState(backend, servers.green.server, 'ready');
    await waitUp(servers.blue.server);
    await waitUp(servers.green.server);
    const steps = [5, 10, 25, 50, 100];
    const runtimeLoad = startLoad(hap.httpPort, { connections: 20, maxSeconds: 120 });
    for (const direction of ['green', 'blue'] as const) {
      for (const p of steps) {
        await (direction === 'green' ? setWeights(100 - p, p) : setWeights(p, 100 - p));
        await sleep(300);
      }
    }
    const runtimeTotals = await runtimeLoad.stop();
    const reloadLoad = startLoad(hap.httpPort, { connections: 20, maxSeconds: 120 });
    for (const direction of ['green', 'blue'] as const) {
      for (const p of steps) {
        const weights = direction === 'green' ? { blue: 100 - p, green: p } : { blue: p, green: 100 - p };
        await hap.reload({ weights: { [team.team_name]: weights } }, false);
        await sleep(300);
      }
    }
    const reloadTotals = await reloadLoad.stop();
    out(`errors under load (20 keep-alive connections, 2 × 5 steps): runtime API ${runtimeTotals.errors} errors / ${runtimeTotals.non2xx} non-2xx of ${runtimeTotals.requests}; config rewrite + reload ${reloadTotals.errors} errors / ${reloadTotals.non2xx} non-2xx of ${reloadTotals.requests}`);
    rows.push({ metric: 'socket errors during switch under load', ours: runtimeTotals.errors + runtimeTotals.non2xx, baseline: reloadTotals.errors + reloadTotals.non2xx, unit: 'errors (baseline: config rewrite + reload)' });

    // ---- 5. signed-in people beside anonymous traffic, one switch ----
    rows.push(...(await benchPeopleBesideAnonymous(store, runner, actor, out)));
  } finally {
    await runner.drain(5000);
    await hap.stop();
    await blue.close();
    await green.close();
    await store.close();
    await pg.stop();
    rmSync(pgDir, { recursive: true, force: true });
  }
  process.stdout.write(`BENCH_JSON ${JSON.stringify({ rows })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/switch failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});

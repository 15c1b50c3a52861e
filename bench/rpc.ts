/**
 * RPC round trip through a real jenkins-sidecar (WebSocket, auth done at the
 * upgrade, dispatch, zod validation, one PostgreSQL query) against a bare `ws`
 * echo server answering the same JSON-RPC frames in the same process run, and
 * the sidecar's RSS at idle and under 50 concurrent clients. Prints figures;
 * asserts nothing. Bounded in count and time.
 *
 *   node build/bench/rpc.js            (or: npm run bench -- rpc)
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { RpcClient } from '../test/support/sidecar-process-rpc';
import { machineLine, percentile, printBenchJson, rssMiB, startBenchStack, type BenchRow } from './_stack';

const SEQUENTIAL_CALLS = 2_000;
const LOAD_CLIENTS = 50;
const LOAD_MS = 5_000;

async function echoServer(): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      // Parse and answer like a JSON-RPC server would, so JSON costs are on both sides.
      const req = JSON.parse(data.toString()) as { id: number };
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: req.id, result: { locks: [] } }));
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/rpc`,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

/** `count` sequential calls on one connection; latencies in ms. */
async function sequential(c: RpcClient, method: string, params: Record<string, unknown>, count: number): Promise<number[]> {
  const out: number[] = [];
  const deadline = Date.now() + 60_000;
  for (let i = 0; i < count && Date.now() < deadline; i++) {
    const t = process.hrtime.bigint();
    await c.call(method, params, 10_000);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

async function main(): Promise<void> {
  console.log(machineLine());
  const team = 'bench';
  const stack = await startBenchStack([{ id: 'ops', teams: ['*'] }], { SIDECAR_MAX_IN_FLIGHT_PER_TOKEN: '200', SIDECAR_MAX_CONNECTIONS_PER_TOKEN: '200' });
  const echo = await echoServer();
  const rows: BenchRow[] = [];
  try {
    const sc = stack.sidecar;
    const token = sc.secrets['ops']!;
    await new Promise((r) => setTimeout(r, 2_000));
    const rssIdle = rssMiB(sc.pid);

    const ours = await RpcClient.connect(sc.rpcUrl, token);
    const base = await RpcClient.connect(echo.url, null);
    // Warm up both (JIT, connection pool).
    await sequential(ours, 'lock.list', { team }, 200);
    await sequential(base, 'lock.list', { team }, 200);

    const oursDb = await sequential(ours, 'lock.list', { team }, SEQUENTIAL_CALLS);
    // An unknown method: transport + envelope + dispatch, no validation or database.
    const oursDispatch = await sequential(ours, 'bench.nothing', {}, SEQUENTIAL_CALLS);
    const baseline = await sequential(base, 'lock.list', { team }, SEQUENTIAL_CALLS);
    await ours.close();
    await base.close();

    // Under load: 50 clients, each calling lock.list back to back for LOAD_MS; RSS sampled every 250 ms.
    let peakRss = rssIdle;
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, rssMiB(sc.pid));
      } catch {
        // process gone: reported below as an error
      }
    }, 250);
    const loadLat: number[] = [];
    let loadErrors = 0;
    const clients = await Promise.all(Array.from({ length: LOAD_CLIENTS }, () => RpcClient.connect(sc.rpcUrl, token)));
    const until = Date.now() + LOAD_MS;
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < 100_000 && Date.now() < until; i++) {
          const t = process.hrtime.bigint();
          const m = await c.call('lock.list', { team }, 10_000);
          loadLat.push(Number(process.hrtime.bigint() - t) / 1e6);
          if (m.error) loadErrors++;
        }
      }),
    );
    clearInterval(sampler);
    await Promise.all(clients.map((c) => c.close()));

    const fmt = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(3)} ms, p99 ${percentile(xs, 99).toFixed(3)} ms (n=${xs.length})`;
    console.log(`sidecar lock.list (1 query)     : ${fmt(oursDb)}`);
    console.log(`sidecar unknown method (no DB)  : ${fmt(oursDispatch)}`);
    console.log(`bare ws echo (same frames)      : ${fmt(baseline)}`);
    console.log(`under load (${LOAD_CLIENTS} clients, ${LOAD_MS / 1000} s): ${fmt(loadLat)}, ${(loadLat.length / (LOAD_MS / 1000)).toFixed(0)} calls/s, ${loadErrors} errors`);
    console.log(`sidecar RSS: idle ${rssIdle.toFixed(1)} MiB, peak under load ${peakRss.toFixed(1)} MiB`);

    rows.push(
      { metric: 'rpc round trip p50 (lock.list vs ws echo)', ours: percentile(oursDb, 50), baseline: percentile(baseline, 50), unit: 'ms' },
      { metric: 'rpc round trip p99 (lock.list vs ws echo)', ours: percentile(oursDb, 99), baseline: percentile(baseline, 99), unit: 'ms' },
      { metric: 'rpc dispatch p50 (no DB vs ws echo)', ours: percentile(oursDispatch, 50), baseline: percentile(baseline, 50), unit: 'ms' },
      { metric: `rpc p99 under load (${LOAD_CLIENTS} clients)`, ours: percentile(loadLat, 99), baseline: null, unit: 'ms' },
      { metric: `rpc throughput (${LOAD_CLIENTS} clients, lock.list)`, ours: loadLat.length / (LOAD_MS / 1000), baseline: null, unit: 'calls/s' },
      { metric: 'rpc errors under load', ours: loadErrors, baseline: null, unit: 'count' },
      { metric: 'sidecar RSS idle', ours: rssIdle, baseline: null, unit: 'MiB' },
      { metric: 'sidecar RSS peak under load', ours: peakRss, baseline: null, unit: 'MiB' },
    );
  } finally {
    await echo.close();
    await stack.stop();
  }
  printBenchJson(rows);
}

main().catch((err: Error) => {
  process.stderr.write(`bench/rpc: ${err.stack ?? err.message}\n`);
  process.exit(1);
});

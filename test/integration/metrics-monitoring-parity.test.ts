import { spawnSync } from 'node:child_process';
import { RpcConnection } from '../../agent/src/rpc/client';
import { SIDECAR_METRICS } from '../../catalog/metric-names';
import { renderMonitoring } from '../../library-gen/src/render/monitoring';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startTestSidecar, uniqueId, type InProcessSidecar } from '../support/sidecar-harness';

/**
 * The generated monitoring (alert rules, Grafana dashboard) and the sidecar's
 * /metrics are one set of names: every metric the rendered files reference is a
 * family a live sidecar exports, and the figures wired from the store and the
 * runner carry real values.
 */
let db: TestDatabase;
let sc: InProcessSidecar;
const TEAM = uniqueId('mp').replace(/-/g, '_');

beforeAll(async () => {
  db = await createTestDatabase('metrics');
  sc = await startTestSidecar({ databaseUrl: db.url, tokens: [{ id: 'ops', teams: ['*'] }] });
});

afterAll(async () => {
  await sc?.stop();
  await db?.drop();
});

/** Metric families named in the rendered rules and dashboard (histogram series folded to their family). */
function referencedFamilies(): string[] {
  const names = new Set<string>();
  for (const [, text] of renderMonitoring()) {
    for (const m of text.matchAll(/\b(sidecar_[a-z_]+?)(_bucket|_sum|_count)?\b/g)) names.add(m[1]!);
  }
  return [...names].sort();
}

it('every metric the generated rules and dashboard use is exported by a live sidecar, with real values; promtool check metrics passes', async () => {
  const used = referencedFamilies();
  expect(used.length).toBeGreaterThanOrEqual(10);
  expect(used).toEqual(Object.keys(SIDECAR_METRICS).sort());

  const c = await RpcConnection.open(sc.handle.rpcUrl, sc.secrets.ops!);
  try {
    expect((await c.call('environment.status', { team: TEAM })).ok).toBe(true);
    expect((await c.call('consensus.request', { team: TEAM, operation: 'metrics_parity', timeoutSec: 10 })).ok).toBe(true);
  } finally {
    await c.close();
  }
  const res = await fetch(`${sc.handle.httpUrl}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();

  const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
  expect(used.filter((name) => !exported.has(name))).toEqual([]);

  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  expect({ status: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({ status: 0, output: '' });

  // Values wired from the store, the readiness probes and the runner.
  // prom-client puts the default label instance_id last for counters and gauges, first for histograms.
  const sample = (re: string): RegExp => {
    const brace = re.indexOf('\\{');
    return new RegExp(`^${re.slice(0, brace)}\\{(?:instance_id="[^"]+",)?${re.slice(brace + 2)}(?:,instance_id="[^"]+")?\\} (\\S+)$`, 'm');
  };
  expect(text).toMatch(sample(`sidecar_traffic_weight\\{team="${TEAM}",environment="blue"`));
  const blue = Number(sample(`sidecar_traffic_weight\\{team="${TEAM}",environment="blue"`).exec(text)![1]);
  const green = Number(sample(`sidecar_traffic_weight\\{team="${TEAM}",environment="green"`).exec(text)![1]);
  expect(blue + green).toBeGreaterThan(0);
  const activeBlue = Number(sample(`sidecar_active_environment\\{team="${TEAM}",environment="blue"`).exec(text)![1]);
  const activeGreen = Number(sample(`sidecar_active_environment\\{team="${TEAM}",environment="green"`).exec(text)![1]);
  expect(activeBlue + activeGreen).toBe(1);
  expect(Number(sample('sidecar_dependency_up\\{dependency="postgres"').exec(text)?.[1])).toBe(1);
  expect(text).toMatch(sample(`sidecar_consensus_requests_total\\{team="${TEAM}",outcome="(approved|denied)"`));
  expect(text).toMatch(sample(`sidecar_operations_total\\{type="consensus.request",result="succeeded",team="${TEAM}"`));
  expect(Number(sample(`sidecar_operation_duration_seconds_count\\{team="${TEAM}",type="consensus.request"`).exec(text)?.[1])).toBe(1);
  expect(Number(sample(`sidecar_consensus_duration_seconds_count\\{team="${TEAM}",result="(?:approved|denied)"`).exec(text)?.[1])).toBe(1);
});

import { eventually } from '../support/eventually';
import { startReplicatedCluster, waitForReplay, type ReplicatedCluster } from '../support/pg-replication';
import type { RpcClient, RpcMessage } from '../support/sidecar-process-rpc';
import { operationEnded, startTrafficStack, type TrafficStack } from '../support/traffic-stack';

/**
 * The coordination database fails over while a sidecar is in the middle of an
 * operation. Real servers: a PostgreSQL primary with a streaming standby, a
 * jenkins-sidecar process whose SIDECAR_DATABASE_URL lists both
 * (target_session_attrs=read-write), a real HAProxy. The primary is killed
 * (kill -9 of the postmaster and its backends), the standby promoted; the
 * sidecar is never restarted.
 *
 * Asserted for a switch, for lock grants and for an emergency stop: the
 * promotion is an outage (DEPENDENCY_DOWN, traffic put back on the last known
 * good side without the database, records owed) followed by recovery on the new
 * primary — the switch ends on one side in HAProxy and environment_state alike,
 * every token is above every earlier one and none is issued twice, and the audit
 * has every row a caller was told was written. With synchronous replication
 * nothing acknowledged is lost; with an asynchronous standby that missed the
 * switch, the operation is re-recorded from what the sidecar knew.
 */
jest.setTimeout(240_000);

const ANSWER_TIMEOUT_SEC = '3';

interface Rig {
  cluster: ReplicatedCluster;
  stack: TrafficStack;
  c: RpcClient;
  team: string;
  /** One query on the server that is primary now. */
  sql<T extends Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>;
}

const rigs: Rig[] = [];

async function startRig(prefix: string, synchronous: boolean): Promise<Rig> {
  const cluster = await startReplicatedCluster({
    standbys: 1,
    // Commits wait for standby1's flush: an acknowledged write survives the primary's death.
    primaryConf: synchronous ? ["synchronous_standby_names = 'standby1'", 'synchronous_commit = on'] : [],
  });
  try {
    await cluster.primary.query('CREATE DATABASE jsm');
    const standby = cluster.standbys[0]!;
    const url = `postgresql://postgres@${cluster.primary.hostPort},${standby.hostPort}/jsm?target_session_attrs=read-write`;
    const stack = await startTrafficStack({
      prefix,
      databaseUrl: url,
      sidecarEnv: { SIDECAR_HEARTBEAT_SEC: '1', SIDECAR_DATABASE_ANSWER_TIMEOUT_SEC: ANSWER_TIMEOUT_SEC },
    });
    const rig: Rig = {
      cluster,
      stack,
      c: stack.clients[0]!,
      team: stack.team.team_name,
      sql: async (query, params = []) => {
        const now = cluster.primary.isRunning() ? cluster.primary : standby;
        return now.query(query, params, 'jsm');
      },
    };
    rigs.push(rig);
    return rig;
  } catch (err) {
    cluster.destroy();
    throw err;
  }
}

afterEach(() => {
  // On a failure, what the sidecar said is the first thing to read.
  const state = expect.getState();
  if (state.assertionCalls > 0 && rigs.length && process.env.JSM_FAILOVER_LOGS) process.stderr.write(rigs[rigs.length - 1]!.stack.sidecars[0]!.log().slice(-20_000));
});

afterAll(async () => {
  for (const r of rigs.reverse()) {
    await r.stack.stop().catch(() => undefined);
    r.cluster.destroy();
  }
});

const ok = (m: RpcMessage): Record<string, unknown> => {
  if (m.error) throw new Error(`RPC error ${m.error.code}: ${m.error.message}`);
  return m.result as Record<string, unknown>;
};

/** The team's sides as environment_state has them on the primary of now. */
async function desired(rig: Rig): Promise<{ blue: number; green: number }> {
  const rows = await rig.sql<{ environment: string; desired_weight: number }>('SELECT environment, desired_weight FROM environment_state WHERE team_name = $1', [rig.team]);
  const w = Object.fromEntries(rows.map((r) => [r.environment, Number(r.desired_weight)]));
  return { blue: w.blue ?? -1, green: w.green ?? -1 };
}

/** Starts a switch and waits until it is half way; resolves with its call still in flight. */
async function switchHalfway(rig: Rig, lockToken: number): Promise<{ answer: Promise<RpcMessage> }> {
  const call = rig.c.call(
    'traffic.switch',
    { team: rig.team, target: 'green', increments: [50, 100], validationSec: 60, minSamples: 0, drainTimeoutSec: 1, sampleIntervalMs: 250, lockToken },
    120_000,
  );
  await eventually('step 50 in HAProxy', async () => {
    const w = await rig.stack.weights();
    return w.green > 0 && w.blue > 0 ? w : null;
  }, 30_000);
  return { answer: call };
}

/** Kill the primary; the answer of the switch in flight; promote. */
async function failOver(rig: Rig, inFlight: { answer: Promise<RpcMessage> }): Promise<RpcMessage> {
  rig.cluster.primary.kill();
  const safe = await eventually('all traffic back on blue without the database', async () => {
    const w = await rig.stack.weights();
    return w.green === 0 && w.blue > 0 ? w : null;
  }, 30_000);
  expect(safe.blue).toBeGreaterThan(0);
  const answer = await inFlight.answer;
  rig.cluster.standbys[0]!.promote();
  return answer;
}

/** After the promotion: HAProxy and environment_state agree on blue, and the sidecar says it is in sync. */
async function expectOneSide(rig: Rig): Promise<void> {
  const d = await eventually('desired weights on blue in the new primary', async () => {
    const w = await desired(rig).catch(() => null);
    return w && w.green === 0 && w.blue > 0 ? w : null;
  }, 60_000);
  const status = await eventually('the sidecar reports traffic in sync', async () => {
    const r = await rig.c.call('traffic.status', { team: rig.team });
    return !r.error && (r.result as { inSync: boolean }).inSync ? r.result : null;
  }, 60_000);
  expect(status).toMatchObject({ inSync: true });
  const live = await rig.stack.weights();
  expect(live).toEqual({ blue: d.blue, green: 0 });
  const [env] = await rig.sql<{ active_environment: string }>('SELECT active_environment FROM team_environment WHERE team_name = $1', [rig.team]);
  expect(env?.active_environment).toBe('blue');
  expect(rig.stack.sidecars[0]!.exited()).toBe(false);
}

it('synchronous standby: the primary dies during a switch; the switch ends rolled back on blue, its records land on the promoted standby, tokens go on above', async () => {
  const rig = await startRig('fos', true);
  ok(await rig.c.call('traffic.status', { team: rig.team }));
  const lock = ok(await rig.c.call('lock.acquire', { team: rig.team, operation: 'blue_green_switch', ttlSec: 8, owner: 'fos/switch#1' }));
  const t1 = lock.token as number;
  const inFlight = await switchHalfway(rig, t1);
  const answer = await failOver(rig, inFlight);
  expect(answer.error?.data?.code).toBe('DEPENDENCY_DOWN');
  const data = answer.error?.data as { operationId?: string; recordsDeferred?: boolean } | undefined;
  const opId = data?.operationId ?? (/"operationId":"([0-9a-f-]{36})"/.exec(JSON.stringify(answer.error))?.[1] as string);
  expect(opId).toMatch(/^[0-9a-f-]{36}$/);

  await expectOneSide(rig);
  const op = await operationEnded(rig.c, opId, 60_000);
  expect(op.status).toBe('rolled_back');
  // The lock grant the caller was told about survived (synchronous), and its audit row too.
  const grants = await rig.sql<{ n: number }>("SELECT count(*)::int AS n FROM deployment_audit WHERE operation_type = 'lock.acquire' AND status = 'SUCCESS' AND audit_metadata->'params'->>'owner' = 'fos/switch#1'");
  expect(grants[0]!.n).toBe(1);
  const rollbackAudit = await eventually('the rollback audit row', async () => {
    // The switch's own row (the call's, the dispatcher's FAILURE, names the operation too).
    const rows = await rig.sql<{ status: string }>("SELECT status FROM deployment_audit WHERE operation_id = $1 AND operation_type = 'traffic.switch' AND status NOT IN ('SUCCESS', 'FAILURE')", [opId]);
    return rows.length ? rows : null;
  }, 30_000);
  expect(rollbackAudit.map((r) => r.status)).toEqual(['rolled_back']);
  // A new grant, once the old lease lapsed, is above the old primary's token.
  const again = ok(await rig.c.call('lock.acquire', { team: rig.team, operation: 'blue_green_switch', ttlSec: 60, waitSec: 30, owner: 'fos/switch#2' }, 45_000));
  expect(again.token as number).toBeGreaterThan(t1);
});

it('asynchronous standby that missed the whole switch: the switch is re-recorded from the sidecar, ends on blue, the old token is fenced', async () => {
  const rig = await startRig('foa', false);
  ok(await rig.c.call('traffic.status', { team: rig.team }));
  // The team's rows reach the standby; then replication stops: it will miss the lock and the switch.
  await eventually('environment rows on the primary', async () => ((await desired(rig)).blue >= 0 ? true : null), 10_000);
  await waitForReplay(rig.cluster.primary, rig.cluster.standbys[0]!);
  await rig.cluster.standbys[0]!.cutReplication();
  const lock = ok(await rig.c.call('lock.acquire', { team: rig.team, operation: 'blue_green_switch', ttlSec: 60, owner: 'foa/switch#1' }));
  const t1 = lock.token as number;
  const inFlight = await switchHalfway(rig, t1);
  const answer = await failOver(rig, inFlight);
  expect(answer.error?.data?.code).toBe('DEPENDENCY_DOWN');
  const opId = /"operationId":"([0-9a-f-]{36})"/.exec(JSON.stringify(answer.error))?.[1] as string;
  expect(opId).toMatch(/^[0-9a-f-]{36}$/);

  await expectOneSide(rig);
  const op = await operationEnded(rig.c, opId, 60_000);
  expect(op.status).toBe('rolled_back');
  const why = await eventually('the audit says the switch was re-recorded', async () => {
    const rows = await rig.sql<{ status: string; why: string }>("SELECT status, audit_metadata->>'why' AS why FROM deployment_audit WHERE operation_id = $1 AND operation_type = 'traffic.switch' ORDER BY started_at", [opId]);
    return rows.some((r) => r.status === 'rerecorded') ? rows : null;
  }, 30_000);
  expect(why.find((r) => r.status === 'rerecorded')!.why).toMatch(/failover lost its last rows/);
  // The promoted server never saw t1, yet its grants are above it, and t1 holds nothing there.
  const renew = await rig.c.call('lock.renew', { team: rig.team, operation: 'blue_green_switch', token: t1, ttlSec: 60 });
  expect(renew.error?.data?.code).toBe('FENCED');
  const again = ok(await rig.c.call('lock.acquire', { team: rig.team, operation: 'blue_green_switch', ttlSec: 60, owner: 'foa/switch#2' }));
  expect(again.token as number).toBeGreaterThan(t1);
});

it('synchronous standby: the primary dies among lock grants; no token twice or below an earlier one, every grant a caller got is audited', async () => {
  const rig = await startRig('fol', true);
  const answers: Array<{ owner: string; token?: number; code?: string }> = [];
  let promoted = false;
  const grants = (async () => {
    // Bounded in count and time; sequential, so answers are ordered. Ends after 5 grants on the new primary.
    const until = Date.now() + 90_000;
    let afterPromotion = 0;
    for (let i = 0; i < 400 && Date.now() < until && afterPromotion < 5; i++) {
      const owner = `fol/grant#${i}`;
      const op = `grant_${i}`; // one lock each: a grant whose release was lost in the outage blocks nothing
      const m = await rig.c.call('lock.acquire', { team: rig.team, operation: op, ttlSec: 30, owner }, 20_000);
      if (m.error) {
        answers.push({ owner, code: String(m.error.data?.code ?? m.error.code) });
        continue;
      }
      const token = (m.result as { token: number }).token;
      answers.push({ owner, token });
      if (promoted) afterPromotion += 1;
      await rig.c.call('lock.release', { team: rig.team, operation: op, token }, 20_000);
    }
  })();
  await eventually('some grants before the failover', async () => (answers.filter((a) => a.token).length >= 40 ? true : null), 60_000);
  rig.cluster.primary.kill();
  rig.cluster.standbys[0]!.promote();
  promoted = true;
  await grants;

  const got = answers.filter((a) => a.token !== undefined);
  const tokens = got.map((a) => a.token!);
  expect(new Set(tokens).size).toBe(tokens.length);
  for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
  // The outage was seen as one (no internal errors), and grants resumed on the new primary.
  expect(answers.filter((a) => a.code !== undefined).every((a) => a.code === 'DEPENDENCY_DOWN')).toBe(true);
  expect(answers.slice(-3).every((a) => a.token !== undefined)).toBe(true);
  const audited = await rig.sql<{ owner: string }>("SELECT audit_metadata->'params'->>'owner' AS owner FROM deployment_audit WHERE operation_type = 'lock.acquire' AND status = 'SUCCESS' AND team_name = $1", [rig.team]);
  const auditedOwners = new Set(audited.map((r) => r.owner));
  expect(got.filter((a) => !auditedOwners.has(a.owner))).toEqual([]);
});
it('synchronous standby: the primary dies during an emergency stop; the stop answers, traffic is on blue, its records are on the promoted standby', async () => {
  const rig = await startRig('foe', true);
  ok(await rig.c.call('traffic.status', { team: rig.team }));
  const lock = ok(await rig.c.call('lock.acquire', { team: rig.team, operation: 'blue_green_switch', ttlSec: 60, owner: 'foe/switch#1' }));
  const inFlight = await switchHalfway(rig, lock.token as number);
  const stopping = rig.c.call('rollback.emergency', { team: rig.team, target: 'blue', reason: 'operator stop during a database failover' }, 60_000);
  rig.cluster.primary.kill();
  const stop = ok(await stopping);
  expect(stop).toMatchObject({ active: 'blue' });
  expect((await rig.stack.weights()).green).toBe(0);
  const switchAnswer = await inFlight.answer;
  expect(switchAnswer.error).toBeDefined();
  rig.cluster.standbys[0]!.promote();

  await expectOneSide(rig);
  const stopId = String(stop.operationId);
  const stopRow = await eventually('the emergency stop row, ended', async () => {
    const rows = await rig.sql<{ status: string }>('SELECT status FROM jenkins_coordination WHERE id = $1', [stopId]);
    return rows[0] && rows[0].status !== 'running' ? rows[0] : null;
  }, 60_000);
  expect(stopRow.status).toBe('succeeded');
  // The stop's own row. The call's (the dispatcher's SUCCESS, which names the operation too) is
  // written best-effort as the answer goes out, and the primary may be gone by then.
  const stopAudit = await eventually('the emergency stop audit row', async () => {
    const rows = await rig.sql<{ status: string; reason: string }>("SELECT status, rollback_reason AS reason FROM deployment_audit WHERE operation_id = $1 AND operation_type = 'rollback.emergency' AND status NOT IN ('SUCCESS', 'FAILURE')", [stopId]);
    return rows.length ? rows : null;
  }, 60_000);
  expect(stopAudit).toEqual([{ status: 'completed', reason: 'operator stop during a database failover' }]);
});

import { randomBytes } from 'node:crypto';
import { freeTeamPorts, startBackend, type Backend } from '../support/backends';
import { startHaproxy, type HaproxyProcess } from '../support/haproxy-process';
import { testTeam } from '../support/haproxy-teams';
import { createNetnsLab, expectCode, expectOk, startLabSidecars, type HostCall, type LabSidecars, type NetnsHost, type NetnsLab } from '../support/netns';
import { eventually } from '../support/eventually';
import { haproxyWeights as weightsOf, teamsYamlOf } from '../support/traffic-stack';
import type { Team } from '../../catalog/teams-file';

/**
 * Risk 4: a network partition of the coordinating host in the middle of a
 * switch. Two hosts (network namespaces) share one PostgreSQL in a third. h1
 * leads the team, holds the switch lock and is moving its HAProxy's traffic to
 * green when its packets to the database start being dropped (a silent
 * partition: nothing refuses, statements just get no answer).
 *
 * Asserted: h1 pauses the deployment on its own — within the configured answer
 * timeout its switch moves all traffic back to the last known good side (blue)
 * in HAProxy WITHOUT the database and answers DEPENDENCY_DOWN; meanwhile h2
 * takes leadership and the lock (h1's leases lapse, no lock outlives its TTL)
 * with higher fencing tokens. When the network heals, h1 writes what it owes
 * (the journal of the rollback, the operation's end, the desired weights, the
 * audit row saying why) without a restart; h1's late action with its old grant
 * is FENCED; HAProxy still has all traffic on blue, in sync with Postgres. The
 * emergency stop, pressed on the cut-off host, answers without the journal and
 * its records land after the heal too.
 */
jest.setTimeout(120_000);

const ANSWER_TIMEOUT_SEC = 2;
const LEASE_SEC = 4;
const LOCK_TTL_SEC = 6;

let lab: NetnsLab | undefined;
let team: Team;
let hap: HaproxyProcess;
const backends: Backend[] = [];
let hosts: LabSidecars | undefined;
let on: LabSidecars['on'];
const TAG = randomBytes(3).toString('hex');

beforeAll(async () => {
  lab = await createNetnsLab(2);
  team = testTeam({ prefix: 'r4', ...(await freeTeamPorts()) });
  backends.push(await startBackend(team.environments.blue.web_port, 'blue'), await startBackend(team.environments.green.web_port, 'green'));
  // h1's HAProxy (its admin socket is a file, reachable from h1's namespace); h2 has none of its own here.
  hap = await startHaproxy([team]);
  const teamsYaml = teamsYamlOf(team);
  hosts = await startLabSidecars(lab, {
    teamsYaml,
    env: (h) => ({
      ...(h.name === 'h1' ? { SIDECAR_HAPROXY_SOCKET: hap.socketPath } : {}),
      SIDECAR_HEARTBEAT_SEC: '1',
      SIDECAR_LIVE_WITHIN_SEC: '3',
      SIDECAR_DATABASE_ANSWER_TIMEOUT_SEC: String(ANSWER_TIMEOUT_SEC),
    }),
  });
  on = hosts.on;
});

afterAll(async () => {
  await hosts?.stop();
  await hap?.stop();
  await Promise.all(backends.map((b) => b.close()));
  await lab?.destroy();
});

const host = (name: string): NetnsHost => lab!.hosts.find((x) => x.name === name)!;
const idOf = (name: string): string => `${lab!.id}-${name}`;



/** psql inside h2's namespace (the database is reachable only from the lab's hosts). */
async function sql(query: string): Promise<string[][]> {
  const r = await lab!.exec(host('h2').ns, ['psql', lab!.databaseUrl, '-X', '-A', '-t', '-F', '\t', '-c', query], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`psql failed (${r.code}): ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((line) => line.split('\t'));
}

const haproxyWeights = (): Promise<{ blue: number; green: number }> => weightsOf(hap, team);

it('the coordinating host, partitioned mid-switch, puts traffic back on blue by itself; leadership and the lock move; the records follow when it heals', async () => {
  const name = team.team_name;
  const lead1 = expectOk(await on('h1', 'leadership.establish', { team: name, leaseSec: LEASE_SEC }));
  expect(lead1).toMatchObject({ leader: idOf('h1'), isLeader: true });
  const lock1 = expectOk(await on('h1', 'lock.acquire', { team: name, operation: 'blue_green_switch', ttlSec: LOCK_TTL_SEC, owner: `h1/switch#${TAG}` }));
  const t1 = lock1.token as number;

  const switchCall = on(
    'h1',
    'traffic.switch',
    { team: name, target: 'green', increments: [50, 100], validationSec: 40, minSamples: 0, drainTimeoutSec: 1, sampleIntervalMs: 250, lockToken: t1 },
    90_000,
  );
  const half = await eventually('step 50 in HAProxy', async () => {
    const w = await haproxyWeights();
    return w.green > 0 && w.blue > 0 ? w : null;
  }, 30_000);
  expect(half.blue).toBe(half.green);

  // ---- the partition: h1's packets to the LAN (and the database) are dropped ----
  const cutAt = Date.now();
  lab!.partition(host('h1'));
  let answer: HostCall;
  let stopId = '';
  try {
    // h1 notices within its answer timeout and puts all traffic on blue WITHOUT the database.
    const safe = await eventually('all traffic back on blue during the partition', async () => {
      const w = await haproxyWeights();
      return w.green === 0 && w.blue > 0 ? w : null;
    }, 20_000);
    expect(safe.blue).toBeGreaterThan(0);
    const pausedWithinMs = Date.now() - cutAt;
    // Bounded by a few answer timeouts, far less than the 40 s validation window it was in.
    expect(pausedWithinMs).toBeLessThan(20_000);

    answer = await switchCall;
    expect(answer.ok).toBe(false);
    expectCode(answer, 'DEPENDENCY_DOWN');
    expect(answer.stderr).toContain('moved back to blue');
    expect(answer.stderr).toMatch(/"recordsDeferred":true/);
    expect(answer.stderr).toMatch(/"operationStatus":"rolled_back"/);

    // The stop button still works on the cut-off host: it does not wait for the silent journal.
    const stop = expectOk(await on('h1', 'rollback.emergency', { team: name, target: 'blue', reason: 'operator stop during the partition' }, 20_000));
    expect(stop).toMatchObject({ active: 'blue', recordsDeferred: true });
    stopId = String(stop.operationId);
    expect((await haproxyWeights()).green).toBe(0);

    // h2 takes over once h1's leadership lease lapses, with a higher fencing token.
    const lead2 = await eventually('h2 becomes leader', async () => {
      const r = await on('h2', 'leadership.establish', { team: name, leaseSec: 30 });
      return r.ok && r.result!.isLeader === true ? r.result! : null;
    }, 30_000);
    expect(lead2.leader).toBe(idOf('h2'));
    expect(lead2.token as number).toBeGreaterThan(lead1.token as number);

    // The switch lock lapses at its TTL (nobody renews a partitioned grant) and moves to h2.
    const lock2 = expectOk(await on('h2', 'lock.acquire', { team: name, operation: 'blue_green_switch', ttlSec: 120, waitSec: 20, owner: `h2/switch#${TAG}` }, 30_000));
    expect(lock2.token as number).toBeGreaterThan(t1);

    // HAProxy is still wholly on blue while h1 is cut off.
    expect(await haproxyWeights()).toEqual(safe);
  } finally {
    lab!.heal(host('h1'));
  }
  const operationId = /"operationId":"([0-9a-f-]{36})"/.exec(answer.stderr)?.[1];
  expect(operationId).toBeDefined();

  // ---- healed: h1 writes what it owes, without a restart ----
  const op = await eventually('the switch ends rolled_back in Postgres', async () => {
    const rows = await sql(`SELECT status, coordinator_instance FROM jenkins_coordination WHERE id = '${operationId}'`);
    return rows[0] && rows[0][0] !== 'running' ? rows[0] : null;
  }, 40_000);
  expect(op).toEqual(['rolled_back', idOf('h1')]);
  const desired = await eventually('desired weights blue 100', async () => {
    const rows = await sql(`SELECT environment, desired_weight FROM environment_state WHERE team_name = '${name}' ORDER BY environment`);
    return rows.length === 2 && rows[1]![1] === '0' ? rows : null;
  }, 20_000);
  expect(desired[0]).toEqual(['blue', expect.stringMatching(/^[1-9]/)]);
  // The journal has the rollback step, done (written late, in order).
  const steps = await sql(`SELECT s->>'name', s->>'outcome' FROM jenkins_coordination, jsonb_array_elements(metadata->'steps') s WHERE id = '${operationId}'`);
  expect(steps).toContainEqual(['rollback', 'done']);
  const audit = await eventually('the audit row of the rollback', async () => {
    // The switch's own row (the call's, the dispatcher's FAILURE, names the operation too).
    const rows = await sql(`SELECT status, rollback_reason FROM deployment_audit WHERE operation_id = '${operationId}' AND operation_type = 'traffic.switch' AND status NOT IN ('SUCCESS', 'FAILURE')`);
    return rows.length > 0 ? rows : null;
  }, 20_000);
  expect(audit[0]![0]).toBe('rolled_back');
  expect(audit[0]![1]).toMatch(/PostgreSQL|database/i);
  // ...and the emergency stop made during the partition: its row, ended, and its audit row (once).
  const stopRow = await eventually('the emergency stop row written and ended', async () => {
    const rows = await sql(`SELECT status FROM jenkins_coordination WHERE id = '${stopId}'`);
    return rows[0] && rows[0][0] !== 'running' ? rows[0] : null;
  }, 30_000);
  expect(stopRow).toEqual(['succeeded']);
  const stopAudit = await eventually('the emergency stop audit row', async () => {
    const rows = await sql(`SELECT status, rollback_reason FROM deployment_audit WHERE operation_id = '${stopId}' AND operation_type = 'rollback.emergency'`);
    return rows.length > 0 ? rows : null;
  }, 20_000);
  expect(stopAudit).toEqual([['completed', 'operator stop during the partition']]);

  // h1's late action with its old grant is refused; h2's grant is intact.
  const late = await eventually('h1 answers again', async () => {
    const r = await on('h1', 'lock.renew', { team: name, operation: 'blue_green_switch', token: t1, ttlSec: 600 }, 10_000);
    return r.timedOut || r.errorCode === 'DEPENDENCY_DOWN' ? null : r;
  }, 30_000);
  expectCode(late, 'FENCED');
  expect(late.stderr).toContain(`h2/switch#${TAG}`);
  expectCode(await on('h1', 'leadership.establish', { team: name, leaseSec: 30 }), 'NOT_LEADER');

  // Reconciled: h1's HAProxy agrees with Postgres and stays on blue.
  const status = await eventually('h1 traffic in sync', async () => {
    const r = await on('h1', 'traffic.status', { team: name });
    return r.ok && r.result!.inSync === true ? r.result! : null;
  }, 20_000);
  expect(status).toMatchObject({ inSync: true });
  const final = await haproxyWeights();
  expect(final.green).toBe(0);
  expect(final.blue).toBeGreaterThan(0);
  for (const s of hosts!.sidecars.values()) expect(s.exited()).toBe(false);
});

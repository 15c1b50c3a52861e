import { randomBytes } from 'node:crypto';
import { createNetnsLab, expectCode, expectOk, startLabSidecars, type LabSidecars, type NetnsHost, type NetnsLab } from '../support/netns';
import { eventually } from '../support/eventually';

/**
 * Three sidecars as three hosts (network namespaces on one bridge), one
 * PostgreSQL in a fourth namespace. Every call is made by a client running
 * inside the host's namespace against that host's sidecar. Shows: consensus
 * across the three; leadership held by one; when the leader's host is cut
 * off, it cannot act, its lease and lock expire, leadership and the lock move
 * to another host with higher fencing tokens, and the cut-off host's late
 * actions are FENCED / NOT_LEADER once it is back.
 */
jest.setTimeout(90_000);

const TEAM = `mh-${randomBytes(3).toString('hex')}`;
const HEARTBEAT_SEC = 1;
const LIVE_WITHIN_SEC = 3;
const LEASE_SEC = 4;

let lab: NetnsLab | undefined;
let hosts: LabSidecars | undefined;
let on: LabSidecars['on'];

beforeAll(async () => {
  lab = await createNetnsLab(3);
  hosts = await startLabSidecars(lab, { env: () => ({ SIDECAR_HEARTBEAT_SEC: String(HEARTBEAT_SEC), SIDECAR_LIVE_WITHIN_SEC: String(LIVE_WITHIN_SEC) }) });
  on = hosts.on;
});

afterAll(async () => {
  await hosts?.stop();
  await lab?.destroy();
});

function host(name: string): NetnsHost {
  const h = lab!.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
}

it('reaches consensus across three hosts, moves leadership and the lock off a cut-off host, and fences its late actions', async () => {
  const ids = lab!.hosts.map((h) => `${lab!.id}-${h.name}`);

  // 1. Consensus: all three hosts are live participants and each votes.
  const consensus = await on('h1', 'consensus.request', { team: TEAM, operation: 'version_upgrade', target: 'green', timeoutSec: 20 }, 30_000);
  expectOk(consensus);
  expect(consensus.result).toMatchObject({ approved: true, participants: 3, quorum: 2 });
  const voters = (consensus.result!.votes as Array<{ voter: string }>).map((v) => v.voter).sort();
  expect(voters.length).toBeGreaterThanOrEqual(2);
  expect(ids).toEqual(expect.arrayContaining(voters));

  // 2. Leadership: h1 takes the team's lease; equally healthy h2 and h3 are refused.
  const lead1 = await on('h1', 'leadership.establish', { team: TEAM, leaseSec: LEASE_SEC });
  expectOk(lead1);
  expect(lead1.result).toMatchObject({ leader: ids[0], isLeader: true });
  for (const other of ['h2', 'h3']) {
    const refused = await on(other, 'leadership.establish', { team: TEAM, leaseSec: LEASE_SEC });
    expectCode(refused, 'NOT_LEADER');
    expect(refused.stderr).toContain(ids[0]);
  }

  // 3. h1 takes the switch lock with a short lease.
  const lock1 = await on('h1', 'lock.acquire', { team: TEAM, operation: 'blue_green_switch', ttlSec: LEASE_SEC, owner: 'h1-switch#1' });
  expectOk(lock1);
  const t1 = lock1.result!.token as number;

  // 4. Cut h1 off the network.
  lab!.cut(host('h1'));

  // While cut off, h1 cannot act: its renewal does not succeed (it fails or hangs until our bound).
  const cutRenew = await on('h1', 'lock.renew', { team: TEAM, operation: 'blue_green_switch', token: t1, ttlSec: 600 }, 6_000);
  expect(cutRenew.ok).toBe(false);

  // 5. Leadership moves to a healthy host once h1's lease and heartbeat lapse.
  const lead2 = await eventually(
    'h2 becomes leader',
    async () => {
      const r = await on('h2', 'leadership.establish', { team: TEAM, leaseSec: 30 });
      return r.ok && r.result!.isLeader === true ? r : null;
    },
    25_000,
  );
  expect(lead2.result!.leader).toBe(ids[1]);
  expect(lead2.result!.token as number).toBeGreaterThan(lead1.result!.token as number);
  const h3refused = await on('h3', 'leadership.establish', { team: TEAM, leaseSec: 30 });
  expectCode(h3refused, 'NOT_LEADER');
  expect(h3refused.stderr).toContain(ids[1]);

  // 6. The lock expires with h1's lease and h2 takes it with a higher fencing token.
  const lock2 = await on('h2', 'lock.acquire', { team: TEAM, operation: 'blue_green_switch', ttlSec: 120, waitSec: 15, owner: 'h2-switch#1' }, 25_000);
  expectOk(lock2);
  const t2 = lock2.result!.token as number;
  expect(t2).toBeGreaterThan(t1);

  // 7. Consensus without h1: two live participants, both vote.
  const consensus2 = await on('h2', 'consensus.request', { team: TEAM, operation: 'version_upgrade', target: 'blue', timeoutSec: 20 }, 30_000);
  expectOk(consensus2);
  expect(consensus2.result).toMatchObject({ approved: true, participants: 2, quorum: 2 });
  const voters2 = (consensus2.result!.votes as Array<{ voter: string }>).map((v) => v.voter);
  expect(voters2).not.toContain(ids[0]);

  // 8. h1 comes back. Its late actions with the old grants are refused.
  lab!.restore(host('h1'));
  const lateRenew = await eventually(
    'h1 answers again',
    async () => {
      const r = await on('h1', 'lock.renew', { team: TEAM, operation: 'blue_green_switch', token: t1, ttlSec: 600 }, 8_000);
      return r.timedOut ? null : r;
    },
    30_000,
  );
  expectCode(lateRenew, 'FENCED');
  expect(lateRenew.stderr).toContain('h2-switch#1');

  const lateRelease = await on('h1', 'lock.release', { team: TEAM, operation: 'blue_green_switch', token: t1 });
  expectOk(lateRelease);
  expect(lateRelease.result).toEqual({ released: false });

  const lateLead = await on('h1', 'leadership.establish', { team: TEAM, leaseSec: 30 });
  expectCode(lateLead, 'NOT_LEADER');

  // h2's grants are intact, seen from h3.
  const locks = await on('h3', 'lock.list', { team: TEAM });
  expectOk(locks);
  expect(locks.result!.locks).toEqual([expect.objectContaining({ lockName: `${TEAM}:blue_green_switch`, token: t2, holder: 'h2-switch#1' })]);
  for (const s of hosts!.sidecars.values()) expect(s.exited()).toBe(false);
});

it('a silently partitioned host (packets dropped) cannot act; the others keep working and its lock lapses to them', async () => {
  const lockOp = 'silent_probe';
  const grant = await on('h3', 'lock.acquire', { team: TEAM, operation: lockOp, ttlSec: 3, owner: 'h3-job#7' });
  expectOk(grant);
  const t3 = grant.result!.token as number;
  lab!.partition(host('h3'));
  try {
    // The call hangs (nothing answers, nothing refuses) until our bound: the host cannot act.
    const hung = await on('h3', 'lock.renew', { team: TEAM, operation: lockOp, token: t3, ttlSec: 600 }, 5_000);
    expect(hung.ok).toBe(false);
    // Meanwhile h2 takes the lock once the 3 s lease lapses.
    const taken = await on('h2', 'lock.acquire', { team: TEAM, operation: lockOp, ttlSec: 60, waitSec: 15, owner: 'h2-job#8' }, 25_000);
    expectOk(taken);
    expect(taken.result!.token as number).toBeGreaterThan(t3);
  } finally {
    lab!.heal(host('h3'));
  }
  const late = await eventually(
    'h3 answers again',
    async () => {
      const r = await on('h3', 'lock.renew', { team: TEAM, operation: lockOp, token: t3, ttlSec: 600 }, 8_000);
      return r.timedOut ? null : r;
    },
    30_000,
  );
  expectCode(late, 'FENCED');
  for (const s of hosts!.sidecars.values()) expect(s.exited()).toBe(false);
});

import { eventually } from '../support/eventually';
import { patroniUnavailable, startPatroniCluster, type PatroniCluster, type PatroniMember } from '../support/patroni-cluster';
import { startTrafficStack, type TrafficStack } from '../support/traffic-stack';

/**
 * The coordination database is a real Patroni cluster (one etcd, two members,
 * synchronous_mode on) and a jenkins-sidecar process lists both PostgreSQL
 * servers in SIDECAR_DATABASE_URL with target_session_attrs=read-write. The
 * leader's host dies (kill -9 of its Patroni and its PostgreSQL) in the middle
 * of a sequence of lock grants; nothing but Patroni promotes the other member,
 * and the sidecar is never restarted.
 *
 * Asserted: Patroni promotes the replica (its REST API names it leader and it
 * answers as primary on a higher timeline); the sidecar finds it by itself; every
 * error of the window is DEPENDENCY_DOWN; no token is issued twice or below an
 * earlier one; every grant a caller received has its audit row on the new primary.
 */
jest.setTimeout(120_000);

const unavailable = patroniUnavailable();
if (unavailable) process.stdout.write(`failover-patroni: skipped, ${unavailable}\n`);
const describeIfPatroni = unavailable ? describe.skip : describe;

describeIfPatroni('a Patroni cluster fails over under the sidecar', () => {
  let cluster: PatroniCluster | null = null;
  let stack: TrafficStack | null = null;

  afterAll(async () => {
    await stack?.stop().catch(() => undefined);
    cluster?.destroy();
  });

  it('synchronous_mode: the leader dies among lock grants; Patroni promotes the replica, tokens never repeat or go back, every grant is audited', async () => {
    cluster = await startPatroniCluster({ synchronousMode: true });
    const leader = await cluster.waitForLeader();
    const replica = cluster.members.find((m) => m !== leader)!;
    await cluster.query(leader, 'CREATE DATABASE jsm');
    // A primary's current timeline is the first 8 hex digits of its WAL file name; a promotion starts a higher one.
    const timelineOf = async (m: PatroniMember): Promise<number> =>
      parseInt((await cluster!.query<{ f: string }>(m, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS f'))[0]!.f.slice(0, 8), 16);
    const oldTimeline = await timelineOf(leader);
    // The sidecar lists both servers, in Patroni's member order, and asks for the writable one.
    const hosts = cluster.members.map((m) => m.hostPort).join(',');
    stack = await startTrafficStack({
      prefix: 'fop',
      databaseUrl: `postgresql://postgres@${hosts}/jsm?target_session_attrs=read-write`,
      sidecarEnv: { SIDECAR_HEARTBEAT_SEC: '1', SIDECAR_DATABASE_ANSWER_TIMEOUT_SEC: '3' },
    });
    const c = stack.clients[0]!;
    const team = stack.team.team_name;

    const answers: Array<{ owner: string; token?: number; code?: string }> = [];
    let promoted = false;
    const grants = (async () => {
      // Bounded in count and time; sequential, so answers are ordered. Ends after 5 grants once promoted.
      const until = Date.now() + 60_000;
      let afterPromotion = 0;
      for (let i = 0; i < 400 && Date.now() < until && afterPromotion < 5; i++) {
        const owner = `fop/grant#${i}`;
        const op = `grant_${i}`; // one lock each: a grant whose release was lost in the outage blocks nothing
        const m = await c.call('lock.acquire', { team, operation: op, ttlSec: 30, owner }, 20_000);
        if (m.error) {
          answers.push({ owner, code: String(m.error.data?.code ?? m.error.code) });
          // A caller told DEPENDENCY_DOWN waits before retrying: without a pause the refused
          // connections answer so fast that the count bound ends the loop inside the outage.
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        const token = (m.result as { token: number }).token;
        answers.push({ owner, token });
        if (promoted) afterPromotion += 1;
        await c.call('lock.release', { team, operation: op, token }, 20_000);
      }
    })();
    await eventually('some grants before the failover', async () => (answers.filter((a) => a.token).length >= 20 ? true : null), 30_000);
    leader.kill();
    // Patroni, not the test, promotes: the leader key expires after ttl and the sync standby takes it.
    const newLeader: PatroniMember = await cluster.waitForLeader({ timeoutMs: 45_000, exclude: leader.name });
    promoted = true;
    expect(newLeader.name).toBe(replica.name);
    await grants;

    const members = await cluster.cluster();
    const promotedMember = members.find((m) => m.name === replica.name)!;
    expect(promotedMember).toMatchObject({ role: 'leader', state: 'running' });
    const [now] = await cluster.query<{ rec: boolean }>(replica, 'SELECT pg_is_in_recovery() AS rec');
    expect(now!.rec).toBe(false);
    expect(await timelineOf(replica)).toBeGreaterThan(oldTimeline);

    const got = answers.filter((a) => a.token !== undefined);
    const tokens = got.map((a) => a.token!);
    expect(new Set(tokens).size).toBe(tokens.length);
    const backwards = tokens.filter((t, i) => i > 0 && t <= tokens[i - 1]!);
    expect(backwards).toEqual([]);
    // There was an outage (the leader key outlives its holder by up to ttl), seen as one
    // (no internal errors), and grants resumed on the promoted member.
    expect(answers.some((a) => a.code !== undefined)).toBe(true);
    expect(answers.filter((a) => a.code !== undefined && a.code !== 'DEPENDENCY_DOWN')).toEqual([]);
    expect(answers.slice(-3).filter((a) => a.token === undefined)).toEqual([]);
    const audited = await cluster.query<{ owner: string }>(
      replica,
      "SELECT audit_metadata->'params'->>'owner' AS owner FROM deployment_audit WHERE operation_type = 'lock.acquire' AND status = 'SUCCESS' AND team_name = $1",
      [team],
      'jsm',
    );
    const auditedOwners = new Set(audited.map((r) => r.owner));
    expect(got.filter((a) => !auditedOwners.has(a.owner))).toEqual([]);
    expect(stack.sidecars[0]!.exited()).toBe(false);
  });
});

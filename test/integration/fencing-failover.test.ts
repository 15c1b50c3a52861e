import { createPgStore, PgStore } from '../../agent/src/store';
import { startReplicatedCluster, ReplicatedCluster, waitForReplay } from '../support/pg-replication';

// A primary and an asynchronous streaming standby (real PostgreSQL servers). The
// standby is cut off, the primary hands out more grants than the sequence logs
// ahead (32), dies with kill -9, the standby is promoted: every token it grants
// must still be above every token the dead primary handed out.
jest.setTimeout(180_000);

const actor = { tokenId: 'token-failover', build: 'devops/Infrastructure/Switch#1', instanceId: 'sc-a' };
const GRANTS = 40;

describe('fencing tokens across a promotion of an asynchronous standby', () => {
  let cluster: ReplicatedCluster;
  const stores: PgStore[] = [];
  beforeAll(async () => {
    cluster = await startReplicatedCluster({ standbys: 1 });
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    cluster?.destroy();
  });

  it('the promoted standby lost the last grants, and its next token is above every token handed out before', async () => {
    const { primary, standbys } = cluster;
    const standby = standbys[0]!;
    await primary.query('CREATE DATABASE jsm');
    const before = await createPgStore({ connectionString: primary.url('jsm'), instanceId: 'sc-a', answerTimeoutMs: 5_000 });
    stores.push(before);
    const first = await before.locks.acquire({ team: 'devops', operation: 'blue_green_switch', ttlSec: 60, waitSec: 0, owner: 'build#0', actor });
    await before.locks.release({ team: 'devops', operation: 'blue_green_switch', token: first.token, owner: 'build#0', actor });
    await waitForReplay(primary, standby);
    await standby.cutReplication();

    const handedOut: number[] = [first.token];
    for (let i = 1; i <= GRANTS; i++) {
      const g = await before.locks.acquire({ team: 'devops', operation: 'blue_green_switch', ttlSec: 60, waitSec: 0, owner: `build#${i}`, actor });
      handedOut.push(g.token);
      if (i < GRANTS) await before.locks.release({ team: 'devops', operation: 'blue_green_switch', token: g.token, owner: `build#${i}`, actor });
    }
    const lease = await before.leadership.establish({ scope: 'team:devops', candidate: 'sc-a', leaseSec: 60 });
    handedOut.push(lease.token);
    const highest = Math.max(...handedOut);
    // Within one server tokens only grow.
    expect(handedOut).toEqual([...handedOut].sort((a, b) => a - b));
    expect(new Set(handedOut).size).toBe(handedOut.length);

    primary.kill();
    standby.promote();

    // The scenario really happened: the promoted sequence resumed below what the old primary reached.
    const [seq] = await standby.query<{ last_value: string }>('SELECT last_value::text FROM fencing_token_seq', [], 'jsm');
    expect(Number(seq!.last_value)).toBeLessThan(highest % 2 ** 32);
    // ...and the lock the old primary granted last is not known to it.
    const [row] = await standby.query<{ n: number }>("SELECT count(*)::int AS n FROM coordination_locks WHERE locked_by = $1", [`build#${GRANTS}`], 'jsm');
    expect(row!.n).toBe(0);

    const after = await createPgStore({ connectionString: standby.url('jsm'), instanceId: 'sc-b', answerTimeoutMs: 5_000 });
    stores.push(after);
    // Straight after promotion, before any checkpoint: the epoch is already the new timeline.
    const g = await after.locks.acquire({ team: 'devops', operation: 'blue_green_switch', ttlSec: 60, waitSec: 0, owner: 'build#after', actor: { ...actor, instanceId: 'sc-b' } });
    expect(g.token).toBeGreaterThan(highest);
    expect(Number.isSafeInteger(g.token)).toBe(true);
    const l = await after.leadership.establish({ scope: 'team:devops', candidate: 'sc-b', leaseSec: 60 });
    expect(l.token).toBeGreaterThan(g.token);
    // The holder of the old primary's last token is fenced on the new primary.
    await expect(after.locks.assertHeld({ team: 'devops', operation: 'blue_green_switch', token: handedOut[GRANTS]! })).rejects.toMatchObject({ code: 'FENCED' });
  });
});

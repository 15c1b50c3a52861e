import { isSidecarError } from '../../agent/src/sidecar-error';
import { createPgStore, PgStore } from '../../agent/src/store';
import { asDependencyDown } from '../../agent/src/store/pg-unreachable';
import { eventually } from '../support/eventually';
import { startReplicatedCluster, ReplicatedCluster, waitForReplay } from '../support/pg-replication';

// SIDECAR_DATABASE_URL with several hosts in libpq form, against a real primary
// and streaming standby: the store finds the writable server, loses it when the
// primary is killed (calls answer DEPENDENCY_DOWN), and finds the promoted
// standby by itself, the LISTEN connection included.
jest.setTimeout(180_000);

const actor = { tokenId: 'token-multi', build: 'devops/Infrastructure/Switch#7', instanceId: 'sc-m' };

describe('several database hosts, target_session_attrs=read-write', () => {
  let cluster: ReplicatedCluster;
  let store: PgStore | undefined;
  beforeAll(async () => {
    cluster = await startReplicatedCluster({ standbys: 1 });
    await cluster.primary.query('CREATE DATABASE jsm');
    await waitForReplay(cluster.primary, cluster.standbys[0]!);
  });
  afterAll(async () => {
    await store?.close().catch(() => undefined);
    cluster?.destroy();
  });

  it('connects to the primary though the standby is listed first, and follows a promotion without a restart', async () => {
    const { primary } = cluster;
    const standby = cluster.standbys[0]!;
    // The standby first: libpq order, so only the session check can send us to the primary.
    const url = `postgresql://postgres@${standby.hostPort},${primary.hostPort}/jsm?target_session_attrs=read-write`;
    const found: string[] = [];
    store = await createPgStore({ connectionString: url, instanceId: 'sc-m', answerTimeoutMs: 5_000, onServerFound: (s) => found.push(s) });
    expect(store.database.current()).toBe(primary.hostPort);
    expect(found).toEqual([primary.hostPort]);
    const before = await store.locks.acquire({ team: 'devops', operation: 'blue_green_switch', ttlSec: 60, waitSec: 0, owner: 'b#1', actor });
    await store.locks.release({ team: 'devops', operation: 'blue_green_switch', token: before.token, owner: 'b#1', actor });
    await waitForReplay(primary, standby);

    primary.kill();
    // While no server accepts a read-write session the call is an outage, not a crash.
    const during = await store.locks.list().then(
      () => null,
      (err: unknown) => asDependencyDown(err),
    );
    expect(during).not.toBeNull();
    expect(isSidecarError(during) && during.code).toBe('DEPENDENCY_DOWN');

    standby.promote();
    const after = await eventually(
      'a grant on the promoted standby',
      () => store!.locks.acquire({ team: 'devops', operation: 'blue_green_switch', ttlSec: 60, waitSec: 0, owner: 'b#2', actor }),
      60_000,
    );
    expect(after.token).toBeGreaterThan(before.token);
    expect(store.database.current()).toBe(standby.hostPort);
    expect(found).toEqual([primary.hostPort, standby.hostPort]);
    // The LISTEN session moved too (it reconnects with backoff, through the same search).
    await eventually(
      'the LISTEN session on the promoted standby',
      async () => ((await standby.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'jsm-listen'"))[0]!.n === 1 ? true : null),
      60_000,
    );
  });
});

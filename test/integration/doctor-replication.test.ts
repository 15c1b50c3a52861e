import { hostProbes } from '../../agent/src/doctor/host-probes';
import { checkReplication } from '../../agent/src/doctor/service-checks';
import { eventually } from '../support/eventually';
import { startReplicatedCluster, type ReplicatedCluster } from '../support/pg-replication';

// The doctor's PostgreSQL probe against real servers: several hosts in libpq form, the
// standby listed first; it finds the primary and reads how the cluster replicates.
jest.setTimeout(120_000);

describe('sidecarctl doctor on a replicated coordination database', () => {
  let cluster: ReplicatedCluster;
  beforeAll(async () => {
    cluster = await startReplicatedCluster({ standbys: 1, primaryConf: ["synchronous_standby_names = 'standby1'"] });
  });
  afterAll(() => cluster?.destroy());

  it('names each server, finds the synchronous standby, and says an asynchronous one can lose acknowledged rows', async () => {
    const standby = cluster.standbys[0]!;
    const url = `postgresql://postgres@${standby.hostPort},${cluster.primary.hostPort}/postgres?target_session_attrs=read-write`;
    // A standby that has just connected is listed as async until its first feedback reports a flush
    // position (the primary only counts standbys with a valid flush LSN as synchronous candidates:
    // PostgreSQL syncrep.c, SyncRepGetCandidateStandbys).
    await eventually('standby1 acknowledged as the synchronous standby', async () => {
      const rows = await cluster.primary.query<{ sync: string }>("SELECT sync_state AS sync FROM pg_stat_replication WHERE application_name = 'standby1'");
      return rows[0]?.sync === 'sync' ? true : null;
    }, 30_000);
    const facts = await hostProbes({ timeoutMs: 10_000 }).postgres(url);
    expect(facts.replication?.servers).toEqual([
      { hostPort: standby.hostPort, role: 'standby' },
      { hostPort: cluster.primary.hostPort, role: 'primary' },
    ]);
    expect(facts.replication?.standbys).toEqual([expect.objectContaining({ name: 'standby1', state: 'streaming', syncState: 'sync' })]);
    expect(facts.replication?.timeline).toBe(1);
    expect(checkReplication(facts.replication!)).toMatchObject({ status: 'ok' });

    await cluster.primary.query('ALTER SYSTEM SET synchronous_standby_names = \'\'');
    await cluster.primary.query('SELECT pg_reload_conf()');
    // The reload reaches the postmaster (and so new sessions) asynchronously.
    await eventually('asynchronous replication in effect', async () => {
      const [r] = await cluster.primary.query<{ names: string }>("SELECT current_setting('synchronous_standby_names') AS names");
      return r!.names === '' ? true : null;
    }, 20_000);
    const asyncFacts = await hostProbes({ timeoutMs: 10_000 }).postgres(url);
    const verdict = checkReplication(asyncFacts.replication!);
    expect(verdict.status).toBe('warn');
    expect(verdict.summary).toMatch(/asynchronous replication \(standby1 streaming, async/);
  });
});

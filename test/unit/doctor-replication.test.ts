import { checkReplication } from '../../agent/src/doctor/service-checks';
import type { ReplicationFacts } from '../../agent/src/doctor/probes';

const base: ReplicationFacts = {
  servers: [
    { hostPort: 'db1:5432', role: 'primary' },
    { hostPort: 'db2:5432', role: 'standby' },
  ],
  synchronousStandbyNames: '',
  synchronousCommit: 'on',
  standbys: [{ name: 'db2', state: 'streaming', syncState: 'async', replayLagSec: 0.4 }],
  timeline: 3,
};

describe('doctor: what a failover of the coordination database can lose', () => {
  it('asynchronous: a warning that says what can be lost and how to make it synchronous', () => {
    const r = checkReplication(base);
    expect(r.status).toBe('warn');
    expect(r.summary).toMatch(/asynchronous replication \(db2 streaming, async, replay lag 0\.4 s\)/);
    expect(r.summary).toMatch(/lock grants, journal steps and audit rows/);
    expect(r.summary).toMatch(/fencing epoch 3/);
    expect(r.fix).toMatch(/synchronous_mode: true/);
  });

  it('synchronous with a sync standby: ok, nothing acknowledged is lost', () => {
    const r = checkReplication({ ...base, synchronousStandbyNames: 'ANY 1 (db2)', standbys: [{ ...base.standbys[0]!, syncState: 'quorum' }] });
    expect(r.status).toBe('ok');
    expect(r.summary).toMatch(/a failover to db2 loses nothing a caller was told was written/);
  });

  it('synchronous configured but no standby in sync: commits wait, a failure', () => {
    const r = checkReplication({ ...base, synchronousStandbyNames: 'db2', standbys: [], servers: [base.servers[0]!, { hostPort: 'db2:5432', role: 'unreachable', detail: 'ECONNREFUSED' }] });
    expect(r.status).toBe('fail');
    expect(r.summary).toMatch(/every commit waits/);
    expect(r.summary).toMatch(/db2:5432 does not answer/);
  });

  it('a single server: no failover at all', () => {
    const r = checkReplication({ ...base, servers: [base.servers[0]!], standbys: [] });
    expect(r.status).toBe('warn');
    expect(r.summary).toMatch(/no standby streams from the primary/);
  });
});

import { LocalFacts, storeLocalFacts } from '../../agent/src/coordination/local-facts';
import { Voter } from '../../agent/src/coordination/voter';
import { isSidecarError } from '../../agent/src/sidecar-error';
import { createPgStore, PgStore } from '../../agent/src/store';
import type { LeaderLease } from '../../agent/src/store/contract';
import { createTestDatabase, TestDatabase } from '../support/database';
import { caught } from '../support/caught';

// Waits on real leases and timeouts take seconds; jest's default 5 s per test is too short.
jest.setTimeout(60_000);

const actor = (instanceId: string) => ({ tokenId: `token-${instanceId}`, build: 'devops/Infrastructure/Switch#9', instanceId });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** Facts a test controls: healthy unless told otherwise. */
const facts = (over: Partial<{ breakers: string[]; unhealthy: string[] }> = {}): LocalFacts => ({
  openBreakers: async () => over.breakers ?? [],
  conflictingOperation: async () => null,
  unhealthyDependencies: async () => over.unhealthy ?? [],
});

describe('leadership and consensus between three sidecars', () => {
  let db: TestDatabase;
  const stores: PgStore[] = [];
  let voters: Voter[] = [];
  const [A, B, C] = ['host-a', 'host-b', 'host-c'];
  beforeAll(async () => {
    db = await createTestDatabase('storelead');
    for (const id of [A, B, C]) stores.push(await createPgStore({ connectionString: db.url, instanceId: id, poolMax: 4, liveWithinSec: 30 }));
  });
  afterEach(async () => {
    await Promise.all(voters.map((v) => v.stop()));
    voters = [];
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await db.drop();
  });
  const [sa, sb, sc] = [0, 1, 2].map((i) => () => stores[i]);

  async function startVoters(f: LocalFacts[]): Promise<void> {
    voters = stores.map((s, i) => new Voter({ instanceId: s.instanceId, consensus: s.consensus, facts: f[i], sweepMs: 1_000 }));
    await Promise.all(voters.map((v) => v.start()));
  }

  it('a leader keeps its lease while it heartbeats; another takes over within one lease period after it stops; token increases', async () => {
    const scope = 'team:devops';
    await Promise.all(stores.map((s) => s.participants.heartbeat(s.instanceId, 80)));
    const first = await sa().leadership.establish({ scope, candidate: A, leaseSec: 2 });
    expect(first).toMatchObject({ scope, leader: A });
    const refused = await caught(sb().leadership.establish({ scope, candidate: B, leaseSec: 2 }));
    expect(refused.code).toBe('NOT_LEADER');
    expect(refused.message).toContain(`instance ${A} leads ${scope}`);
    expect(refused.data).toMatchObject({ leader: A, token: first.token });

    // A keeps beating for longer than one lease: heartbeats renew its lease.
    for (let i = 0; i < 6; i++) {
      await sa().participants.heartbeat(A, 80);
      await sb().participants.heartbeat(B, 80);
      await sleep(500);
    }
    expect(await sc().leadership.current(scope)).toMatchObject({ leader: A, token: first.token });
    expect((await caught(sb().leadership.establish({ scope, candidate: B, leaseSec: 2 }))).code).toBe('NOT_LEADER');

    // A stops. B keeps heartbeating and campaigning; bounded to a few lease periods.
    const stoppedAt = Date.now();
    let lease: LeaderLease | null = null;
    while (!lease && Date.now() - stoppedAt < 8_000) {
      await sb().participants.heartbeat(B, 80);
      lease = await sb().leadership.establish({ scope, candidate: B, leaseSec: 2 }).catch((err) => {
        if (isSidecarError(err) && err.code === 'NOT_LEADER') return null;
        throw err;
      });
      if (!lease) await sleep(200);
    }
    expect(lease).toMatchObject({ scope, leader: B });
    expect(lease!.token).toBeGreaterThan(first.token);
    // Renewal by the new leader keeps its token.
    const renewed = await sb().leadership.establish({ scope, candidate: B, leaseSec: 2 });
    expect(renewed.token).toBe(lease!.token);
    await sb().leadership.resign(scope, B);
    expect(await sc().leadership.current(scope)).toBeNull();
  });

  it('equally healthy live candidates do not take the lease from each other; a much healthier one does', async () => {
    const scope = 'global';
    await Promise.all(stores.map((s) => s.participants.heartbeat(s.instanceId, 70)));
    const lead = await sa().leadership.establish({ scope, candidate: A, leaseSec: 30 });
    for (let i = 0; i < 3; i++) {
      expect((await caught(sb().leadership.establish({ scope, candidate: B, leaseSec: 30 }))).code).toBe('NOT_LEADER');
      expect((await caught(sc().leadership.establish({ scope, candidate: C, leaseSec: 30 }))).code).toBe('NOT_LEADER');
    }
    expect((await sa().leadership.current(scope))?.token).toBe(lead.token);
    await sc().participants.heartbeat(C, 100);
    await sa().participants.heartbeat(A, 40);
    const taken = await sc().leadership.establish({ scope, candidate: C, leaseSec: 30 });
    expect(taken.leader).toBe(C);
    expect(taken.token).toBeGreaterThan(lead.token);
    expect((await caught(sa().leadership.establish({ scope, candidate: A, leaseSec: 30 }))).message).toContain(`instance ${C} leads global`);
    await sc().leadership.resign(scope, C);
  });

  it('approved when 2 of 3 voters (each voting by itself) say yes', async () => {
    await Promise.all(stores.map((s) => s.participants.heartbeat(s.instanceId, 90)));
    await startVoters([facts(), facts(), facts({ unhealthy: ['haproxy: connect ECONNREFUSED'] })]);
    const { proposalId } = await sa().consensus.propose({ operation: 'blue_green_switch', team: 'devops', details: { target: 'green' }, proposer: A, timeoutSec: 60, actor: actor(A) });
    const d = await sb().consensus.awaitDecision(proposalId);
    expect(d).toMatchObject({ proposalId, approved: true, quorum: 2, participants: 3 });
    expect(d.votes.filter((v) => v.approve).length).toBeGreaterThanOrEqual(2);
    expect(d.reason).toMatch(/^approved: \d of 3/);
  });

  it('denied with every reason as soon as 2 of 3 vote no (long before the timeout)', async () => {
    await Promise.all(stores.map((s) => s.participants.heartbeat(s.instanceId, 90)));
    await startVoters([facts(), facts({ breakers: ['infrastructure_modification:devops'] }), facts({ unhealthy: ['docker: socket hang up'] })]);
    const { proposalId } = await sc().consensus.propose({ operation: 'blue_green_switch', team: 'devops', details: {}, proposer: C, timeoutSec: 300, actor: actor(C) });
    const d = await sa().consensus.awaitDecision(proposalId);
    expect(d.approved).toBe(false);
    expect(d.reason).toMatch(/cannot be reached/);
    expect(d.reason).toContain('infrastructure_modification:devops');
    expect(d.reason).toContain('docker: socket hang up');
    const byVoter = Object.fromEntries(d.votes.map((v) => [v.voter, v]));
    expect(byVoter[B]).toMatchObject({ approve: false });
    expect(byVoter[C]).toMatchObject({ approve: false });
    const state = await sa().consensus.get(proposalId);
    expect(state.status).toBe('denied');
    expect(state.deadline.getTime() - Date.now()).toBeGreaterThan(200_000); // decided by votes, not by the clock
  });

  it('denied on timeout when too few vote, naming who did not', async () => {
    await Promise.all(stores.map((s) => s.participants.heartbeat(s.instanceId, 90)));
    const { proposalId } = await sa().consensus.propose({ operation: 'plugin_update', team: 'devops', details: {}, proposer: A, timeoutSec: 1, actor: actor(A) });
    await sa().consensus.vote(proposalId, { voter: A, approve: true, reason: 'ready' });
    const d = await sb().consensus.awaitDecision(proposalId);
    expect(d).toMatchObject({ approved: false, quorum: 2, participants: 3 });
    expect(d.reason).toMatch(/timed out after 1s/);
    expect(d.reason).toContain(`no vote from ${B}, ${C}`);
    expect(d.votes).toEqual([expect.objectContaining({ voter: A, approve: true, reason: 'ready' })]);
    expect((await sa().consensus.open()).map((p) => p.proposalId)).not.toContain(proposalId);
  });

  it('voters judge from store-backed local facts: an open breaker or a conflicting running operation is a no', async () => {
    await Promise.all(stores.map((s) => s.participants.heartbeat(s.instanceId, 90)));
    const fromStore = stores.map((s) => storeLocalFacts({ breakers: s.breakers, journal: s.journal, probes: { postgres: () => s.ping() } }));
    await startVoters(fromStore);

    for (let i = 0; i < 3; i++) await sa().breakers.recordFailure('infrastructure_modification:qa', `deploy ${i} failed`);
    const p1 = await sa().consensus.propose({ operation: 'blue_green_switch', team: 'qa', details: {}, proposer: A, timeoutSec: 60, actor: actor(A) });
    const d1 = await sa().consensus.awaitDecision(p1.proposalId);
    expect(d1.approved).toBe(false);
    expect(d1.votes.length).toBeGreaterThanOrEqual(2);
    for (const v of d1.votes) expect(v.reason).toContain('circuit breaker infrastructure_modification:qa open');

    const running = await sb().journal.begin({ type: 'traffic.switch', team: 'web', params: {}, actor: actor(B) });
    const p2 = await sb().consensus.propose({ operation: 'blue_green_switch', team: 'web', details: {}, proposer: B, timeoutSec: 60, actor: actor(B) });
    const d2 = await sb().consensus.awaitDecision(p2.proposalId);
    expect(d2.approved).toBe(false);
    for (const v of d2.votes) expect(v.reason).toContain(`conflicting operation ${running.operation.id} (traffic.switch)`);

    // The proposal's own operation is not a conflict with itself.
    const p3 = await sb().consensus.propose({ operation: 'blue_green_switch', team: 'web', details: { operationId: running.operation.id }, proposer: B, timeoutSec: 60, actor: actor(B) });
    const d3 = await sb().consensus.awaitDecision(p3.proposalId);
    expect(d3.approved).toBe(true);
    await sb().journal.finish(running.operation.id, 'succeeded');
  });

  it('a voter that missed the notification still votes on its next sweep', async () => {
    await Promise.all(stores.map((s) => s.participants.heartbeat(s.instanceId, 90)));
    // Feeds that never hear about new proposals: only the periodic sweep can find them.
    voters = stores.map(
      (s) =>
        new Voter({
          instanceId: s.instanceId,
          consensus: { open: () => s.consensus.open(), vote: (id, v) => s.consensus.vote(id, v), watchProposals: () => () => undefined },
          facts: facts(),
          sweepMs: 200,
        }),
    );
    await Promise.all(voters.map((v) => v.start()));
    const { proposalId } = await sa().consensus.propose({ operation: 'configuration_change', team: 'devops', details: {}, proposer: A, timeoutSec: 30, actor: actor(A) });
    const d = await sa().consensus.awaitDecision(proposalId);
    expect(d.approved).toBe(true);
  });

  it('an overdue proposal nobody awaits is closed when the open list is read', async () => {
    await sa().participants.heartbeat(A, 90);
    const { proposalId } = await sa().consensus.propose({ operation: 'x', team: null, details: {}, proposer: A, timeoutSec: 1, actor: actor(A) });
    await sa().pool.query(`UPDATE consensus_proposals SET deadline = now() - interval '1 minute' WHERE id = $1::uuid`, [proposalId]);
    expect((await sb().consensus.open()).map((p) => p.proposalId)).not.toContain(proposalId);
    expect(await sb().consensus.get(proposalId)).toMatchObject({ status: 'denied', approved: false });
  });

  it('awaitDecision stops with TIMEOUT when its operation is aborted', async () => {
    await sa().participants.heartbeat(A, 90);
    const { proposalId } = await sa().consensus.propose({ operation: 'y', team: null, details: {}, proposer: A, timeoutSec: 60, actor: actor(A) });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const err = await caught(sa().consensus.awaitDecision(proposalId, ac.signal));
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toContain('aborted');
  });

  it('an instance that was not live at proposal time cannot vote', async () => {
    await sa().participants.heartbeat(A, 90);
    const { proposalId } = await sa().consensus.propose({ operation: 'x', team: null, details: {}, proposer: A, timeoutSec: 5, actor: actor(A) });
    const err = await caught(sb().consensus.vote(proposalId, { voter: 'host-late', approve: true, reason: 'me too' }));
    expect(err.code).toBe('CONFLICT');
    expect(err.reason).toBe('not_participant');
    expect((await caught(sb().consensus.vote('00000000-0000-0000-0000-000000000000', { voter: A, approve: true, reason: 'x' }))).code).toBe('NOT_FOUND');
  });
});

import { SidecarError } from '../../agent/src/sidecar-error';
import { createPgStore, PgStore } from '../../agent/src/store';
import type { Clock } from '../../agent/src/store/contract';
import { createTestDatabase, TestDatabase } from '../support/database';
import { caught } from '../support/caught';

// Waits on real leases and timeouts take seconds; jest's default 5 s per test is too short.
jest.setTimeout(60_000);

const actor = (instanceId: string, build?: string) => ({ tokenId: `token-${instanceId}`, build, instanceId });


/** Breaker time is injected; this one is moved by the test. */
class FakeClock implements Clock {
  constructor(private t: number) {}
  now(): Date {
    return new Date(this.t);
  }
  advanceMin(m: number): void {
    this.t += m * 60_000;
  }
}

describe('journal, environment state, audit and breakers on PostgreSQL', () => {
  let db: TestDatabase;
  let a: PgStore;
  let b: PgStore;
  let c: PgStore;
  const clock = new FakeClock(Date.parse('2026-01-01T10:00:00Z'));
  beforeAll(async () => {
    db = await createTestDatabase('storejournal');
    a = await createPgStore({ connectionString: db.url, instanceId: 'host-a', clock, poolMax: 4 });
    b = await createPgStore({ connectionString: db.url, instanceId: 'host-b', clock, poolMax: 4 });
    c = await createPgStore({ connectionString: db.url, instanceId: 'host-c', clock, poolMax: 4 });
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((s) => s?.close()));
    await db.drop();
  });

  it('journals an operation: intent before, outcome after, phase, finish', async () => {
    const { operation, created } = await a.journal.begin({ type: 'traffic.switch', team: 'devops', params: { target: 'green' }, actor: actor('host-a', 'devops/Switch#41') });
    expect(created).toBe(true);
    expect(operation).toMatchObject({ status: 'running', ownerInstance: 'host-a', team: 'devops', params: { target: 'green' }, steps: [] });
    expect(operation.initiatedBy).toContain('devops/Switch#41');
    const s1 = await a.journal.intent(operation.id, 'set-weights', { blue: 95, green: 5 });
    const s2 = await a.journal.intent(operation.id, 'validate', { sec: 60 });
    expect([s1, s2]).toEqual([1, 2]);
    await a.journal.outcome(operation.id, s1, 'done', { applied: true });
    await a.journal.phase(operation.id, 'validating', { step: 1 });
    const mid = await b.journal.get(operation.id);
    expect(mid?.phase).toBe('validating');
    expect(mid?.steps.map((s) => [s.seq, s.name, s.outcome])).toEqual([
      [1, 'set-weights', 'done'],
      [2, 'validate', 'pending'],
    ]);
    expect(mid?.steps[0]).toMatchObject({ intent: { blue: 95, green: 5 }, result: { applied: true } });
    expect(mid?.steps[0].at).toBeInstanceOf(Date);
    expect((await a.journal.unfinished('host-a')).map((o) => o.id)).toContain(operation.id);
    expect((await a.journal.unfinished('host-b')).map((o) => o.id)).not.toContain(operation.id);
    await a.journal.finish(operation.id, 'failed', null, { code: 'SLI_BREACH', message: 'error rate 5% > 2%' });
    await a.journal.finish(operation.id, 'succeeded', { late: true }); // the first outcome stands
    const done = await c.journal.get(operation.id);
    expect(done).toMatchObject({ status: 'failed', error: { code: 'SLI_BREACH' }, result: null });
    expect(done?.completedAt).toBeInstanceOf(Date);
    expect((await c.journal.list({ team: 'devops', status: 'failed' })).map((o) => o.id)).toContain(operation.id);
    expect((await caught(a.journal.outcome(operation.id, 9, 'done'))).code).toBe('NOT_FOUND');
    expect(await a.journal.get('00000000-0000-0000-0000-000000000000')).toBeNull();
  });

  it('idempotency: concurrent begins with one key from three sidecars make ONE operation', async () => {
    const begins = [a, b, c, a, b, c, a, b, c].map((s) =>
      s.journal.begin({ type: 'environment.deploy', team: 'web', params: { target: 'green' }, idempotencyKey: 'web-deploy-41', actor: actor(s.instanceId) }),
    );
    const results = await Promise.all(begins);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.operation.id)).size).toBe(1);
    const again = await b.journal.begin({ type: 'environment.deploy', team: 'web', params: {}, idempotencyKey: 'web-deploy-41', actor: actor('host-b') });
    expect(again).toMatchObject({ created: false, operation: { id: results[0].operation.id } });
    const wrongType = await caught(b.journal.begin({ type: 'traffic.switch', team: 'web', params: {}, idempotencyKey: 'web-deploy-41', actor: actor('host-b') }));
    expect(wrongType.code).toBe('CONFLICT');
    expect(wrongType.reason).toBe('idempotency_key_reused');
    expect(wrongType.message).toContain(results[0].operation.id);
  });

  it('exclusive: a second running operation for the key is a CONFLICT naming the first; free again after finish', async () => {
    const first = await a.journal.begin({ type: 'traffic.switch', team: 'qa', params: {}, actor: actor('host-a', 'qa/Switch#7'), exclusive: 'self_management:qa' });
    const err = await caught(b.journal.begin({ type: 'environment.deploy', team: 'qa', params: {}, actor: actor('host-b'), exclusive: 'self_management:qa' }));
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toContain(first.operation.id);
    expect(err.message).toContain('traffic.switch');
    expect(err.data).toMatchObject({ reason: 'operation_running', runningOperationId: first.operation.id, exclusive: 'self_management:qa' });
    // Another key is not affected.
    const other = await b.journal.begin({ type: 'environment.deploy', team: 'web', params: {}, actor: actor('host-b'), exclusive: 'self_management:web' });
    await a.journal.finish(first.operation.id, 'succeeded', { ok: true });
    const second = await b.journal.begin({ type: 'environment.deploy', team: 'qa', params: {}, actor: actor('host-b'), exclusive: 'self_management:qa' });
    expect(second.created).toBe(true);
    // Concurrent exclusive begins: exactly one runs.
    await b.journal.finish(second.operation.id, 'succeeded');
    const race = await Promise.allSettled([a, b, c].map((s) => s.journal.begin({ type: 'traffic.switch', team: 'qa', params: {}, actor: actor(s.instanceId), exclusive: 'self_management:qa' })));
    expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of race) if (r.status === 'rejected') expect((r.reason as SidecarError).reason).toBe('operation_running');
    await b.journal.finish(other.operation.id, 'succeeded');
  });

  it('finds running operations older than a timeout (seed: operation_timeout 45m)', async () => {
    const op = await a.journal.begin({ type: 'backup.create', team: 'ops', params: {}, actor: actor('host-a') });
    // Age it by the database clock rather than sleeping 45 minutes.
    await a.pool.query(`UPDATE jenkins_coordination SET started_at = now() - interval '46 minutes' WHERE id = $1::uuid`, [op.operation.id]);
    const stale = await b.journal.runningOlderThan(45 * 60);
    expect(stale.map((o) => o.id)).toContain(op.operation.id);
    expect(stale.every((o) => o.status === 'running')).toBe(true);
    expect((await b.journal.runningOlderThan(47 * 60)).map((o) => o.id)).not.toContain(op.operation.id);
    await a.journal.finish(op.operation.id, 'aborted', null, { code: 'TIMEOUT', message: 'exceeded 45m' });
  });

  it('orphaned operations (owner stopped heartbeating) are adopted by exactly one sidecar', async () => {
    await Promise.all([b, c].map((s) => s.participants.heartbeat(s.instanceId, 90)));
    const op = await a.journal.begin({ type: 'traffic.switch', team: 'ops', params: {}, actor: actor('host-a') });
    // host-a never heartbeated in this database: its running operation is orphaned.
    expect((await b.journal.orphaned(30)).map((o) => o.id)).toContain(op.operation.id);
    const claims = await Promise.all([b, c].map((s) => s.journal.adopt(op.operation.id, 'host-a', s.instanceId)));
    const winners = claims.filter((x) => x !== null);
    expect(winners).toHaveLength(1);
    const owner = winners[0]!.ownerInstance;
    expect(['host-b', 'host-c']).toContain(owner);
    expect((await b.journal.orphaned(30)).map((o) => o.id)).not.toContain(op.operation.id);
    expect((await a.journal.unfinished(owner)).map((o) => o.id)).toContain(op.operation.id);
    await a.journal.finish(op.operation.id, 'rolled_back');
    expect(await b.journal.adopt(op.operation.id, owner, 'host-b')).toBeNull(); // finished: nothing to adopt
  });

  it('old idempotency keys can be pruned; the operations stay', async () => {
    const op = await a.journal.begin({ type: 'backup.create', team: 'ops', params: {}, idempotencyKey: 'old-key', actor: actor('host-a') });
    await a.pool.query(`UPDATE idempotency_keys SET created_at = now() - interval '8 days' WHERE idempotency_key = 'old-key'`);
    expect(await a.journal.pruneIdempotencyKeys(7 * 24 * 3600)).toBe(1);
    expect(await a.journal.get(op.operation.id)).not.toBeNull();
    await a.journal.finish(op.operation.id, 'succeeded');
  });

  it('environment state: ensure once, weights, promote, health', async () => {
    const s0 = await a.environments.ensure('devops', 'blue');
    expect(s0).toMatchObject({ team: 'devops', active: 'blue', previous: null, lastKnownGood: 'blue', weights: { blue: 100, green: 0 } });
    await b.environments.setDesiredWeights('devops', { blue: 95, green: 5 });
    // A restarted sidecar must not reset the state to the teams file's side.
    expect((await c.environments.ensure('devops', 'green')).weights).toEqual({ blue: 95, green: 5 });
    const promoted = await a.environments.promote('devops', 'green');
    expect(promoted).toMatchObject({ active: 'green', previous: 'blue', lastKnownGood: 'green', weights: { blue: 0, green: 100 } });
    await b.environments.recordHealth('devops', 'green', 'healthy', { instance: 'jenkins-devops-green', responseMs: 12 });
    const envs = await c.environments.environments('devops');
    expect(envs.find((e) => e.environment === 'green')).toMatchObject({ status: 'healthy', weight: 100, metadata: { responseMs: 12 } });
    expect((await c.environments.list()).map((s) => s.team)).toContain('devops');
    expect((await caught(a.environments.setDesiredWeights('nosuchteam', { blue: 1, green: 1 }))).code).toBe('NOT_FOUND');
    await expect(a.environments.setDesiredWeights('devops', { blue: 300, green: 0 })).rejects.toThrow(/weight/);
  });

  it('audit: who (token id, build, instance), what, when, how it ended', async () => {
    const id = await a.audit.record({
      operationType: 'traffic.switch',
      team: 'devops',
      sourceEnvironment: 'blue',
      targetEnvironment: 'green',
      initiatedBy: 'devops/Switch#41',
      status: 'rolled_back',
      rollbackReason: 'error_rate > 2%',
      metadata: { steps: 3 },
      actor: actor('host-a', 'devops/Switch#41'),
    });
    const [entry] = await b.audit.list({ team: 'devops', operationType: 'traffic.switch', limit: 1 });
    expect(entry).toMatchObject({
      id,
      status: 'rolled_back',
      rollbackReason: 'error_rate > 2%',
      sourceEnvironment: 'blue',
      targetEnvironment: 'green',
      actor: { tokenId: 'token-host-a', build: 'devops/Switch#41', instanceId: 'host-a' },
      metadata: { steps: 3 },
    });
    expect(entry.startedAt).toBeInstanceOf(Date);
    expect(entry.completedAt).toBeInstanceOf(Date);
  });

  it('breakers: transitions persist and are shared between sidecars; one half-open trial only', async () => {
    const name = 'infrastructure_modification:devops';
    expect(await a.breakers.status(name)).toMatchObject({ state: 'closed', failures: 0 });
    await a.breakers.recordFailure(name, 'deploy failed');
    await b.breakers.recordFailure(name, 'deploy failed again');
    expect(await c.breakers.admit(name)).toEqual({ trial: false });
    const opened = await c.breakers.recordFailure(name, 'third strike');
    expect(opened).toMatchObject({ state: 'open', failures: 3, lastReason: 'third strike' });
    const refused = await caught(a.breakers.admit(name));
    expect(refused.code).toBe('BREAKER_OPEN');
    expect(refused.message).toContain('third strike');
    expect(refused.data.retryAt).toBe(new Date(Date.parse('2026-01-01T10:30:00Z')).toISOString());
    clock.advanceMin(31);
    expect((await b.breakers.status(name)).state).toBe('half_open');
    const admits = await Promise.allSettled([a, b, c].map((s) => s.breakers.admit(name)));
    const trials = admits.filter((r) => r.status === 'fulfilled');
    expect(trials).toHaveLength(1);
    expect((trials[0] as PromiseFulfilledResult<{ trial: boolean }>).value).toEqual({ trial: true });
    for (const r of admits) if (r.status === 'rejected') expect((r.reason as SidecarError).code).toBe('BREAKER_OPEN');
    expect(await b.breakers.recordFailure(name, 'trial failed')).toMatchObject({ state: 'open' });
    clock.advanceMin(31);
    expect(await c.breakers.admit(name)).toEqual({ trial: true });
    expect(await a.breakers.recordSuccess(name)).toMatchObject({ state: 'closed', failures: 0, openedAt: null, retryAt: null });
    expect(await b.breakers.admit(name)).toEqual({ trial: false });
    expect((await c.breakers.list()).map((s) => s.name)).toContain(name);
  });
});

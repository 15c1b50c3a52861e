import { SidecarError } from '../../agent/src/sidecar-error';
import { asDependencyDown, isDatabaseUnreachable } from '../../agent/src/store/pg-unreachable';

/** Which pg failures count as "the coordination database is unreachable" (DEPENDENCY_DOWN). */
const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

describe('isDatabaseUnreachable', () => {
  it.each([
    ['ECONNREFUSED', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['ETIMEDOUT', withCode('connect ETIMEDOUT', 'ETIMEDOUT')],
    ['ECONNRESET', withCode('read ECONNRESET', 'ECONNRESET')],
    ['Connection terminated', new Error('Connection terminated unexpectedly')],
    ['pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['57P01 admin shutdown', withCode('terminating connection due to administrator command', '57P01')],
    ['57P03 starting up', withCode('the database system is starting up', '57P03')],
    ['08006 connection failure', withCode('connection failure', '08006')],
    ['AggregateError of refused addresses', Object.assign(new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], ''), {})],
    ['wrapped in cause', new Error('query failed', { cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED') })],
  ])('%s is an outage', (_name, err) => {
    expect(isDatabaseUnreachable(err)).toBe(true);
    const mapped = asDependencyDown(err);
    expect(mapped).toBeInstanceOf(SidecarError);
    expect(mapped).toMatchObject({ code: 'DEPENDENCY_DOWN', data: { dependency: 'postgres' } });
    expect((mapped as SidecarError).message).toMatch(/^the coordination database \(PostgreSQL\) is unreachable/);
  });

  it.each([
    ['unique violation', withCode('duplicate key value violates unique constraint', '23505')],
    ['syntax error', withCode('syntax error at or near "SELEC"', '42601')],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['not an object', 'boom'],
  ])('%s is not an outage and passes through unchanged', (_name, err) => {
    expect(isDatabaseUnreachable(err)).toBe(false);
    expect(asDependencyDown(err)).toBe(err);
  });

  it('leaves a SidecarError as it is, even one caused by an outage', () => {
    const err = new SidecarError('LOCK_HELD', 'held', {}, { cause: withCode('x', 'ECONNREFUSED') });
    expect(asDependencyDown(err)).toBe(err);
  });

  it("a SidecarError names its dependency: HAProxy's socket refusing is not the database, even with ECONNREFUSED as its cause", () => {
    const haproxy = new SidecarError('DEPENDENCY_DOWN', 'HAProxy Runtime API at /run/haproxy/admin.sock refused', { dependency: 'haproxy' }, { cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED') });
    expect(isDatabaseUnreachable(haproxy)).toBe(false);
    const docker = new SidecarError('DEPENDENCY_DOWN', 'Docker engine: no socket', {}, { cause: withCode('connect ENOENT', 'ECONNREFUSED') });
    expect(isDatabaseUnreachable(docker)).toBe(false);
    const postgres = asDependencyDown(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'));
    expect(isDatabaseUnreachable(postgres)).toBe(true);
  });
});

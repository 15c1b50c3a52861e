import { Pool } from 'pg';
import { answerDeadlineClient, DatabaseNoAnswerError } from '../../agent/src/store/answer-deadline-client';
import { asDependencyDown, isDatabaseUnreachable } from '../../agent/src/store/pg-unreachable';
import { isSidecarError } from '../../agent/src/sidecar-error';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * The store's pg Client class against a real PostgreSQL: a statement that gets
 * no answer within the deadline fails as "database unreachable" (so callers
 * answer DEPENDENCY_DOWN), its connection is reset and dropped by the pool (the
 * statement cannot land later), and the pool goes on working with a fresh one.
 * A silent network partition is exercised end to end in
 * faults-risk4-partition-mid-switch.test.ts.
 */
jest.setTimeout(30_000);

let db: TestDatabase;
let pool: Pool;
const DEADLINE_MS = 400;

beforeAll(async () => {
  db = await createTestDatabase('deadline');
  pool = new Pool({ connectionString: db.url, max: 2, Client: answerDeadlineClient(DEADLINE_MS) });
  await pool.query('CREATE TABLE marks (n int)');
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

it('a statement without an answer in time fails as unreachable, and its connection is reset and dropped', async () => {
  const client = await pool.connect();
  const pidRow = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const pid = pidRow.rows[0]!.pid;
  let err: unknown = null;
  try {
    await client.query('SELECT pg_sleep(5)');
  } catch (e) {
    err = e;
  } finally {
    client.release(err as Error);
  }
  expect(err).toBeInstanceOf(DatabaseNoAnswerError);
  expect((err as Error).message).toContain('no answer within 0.4 s');
  expect(isDatabaseUnreachable(err)).toBe(true);
  const answered = asDependencyDown(err);
  expect(isSidecarError(answered) && answered.code).toBe('DEPENDENCY_DOWN');

  // The server notices the reset connection; the pool hands out a fresh one that works.
  const fresh = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  expect(fresh.rows[0]!.pid).not.toBe(pid);
  const observer = new Pool({ connectionString: db.url, max: 1 });
  try {
    const deadline = Date.now() + 10_000;
    let alive = true;
    for (let i = 0; i < 100 && alive && Date.now() < deadline; i++) {
      const r = await observer.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
      alive = (r.rowCount ?? 0) > 0;
      if (alive) await new Promise((res) => setTimeout(res, 100));
    }
    expect(alive).toBe(false);
  } finally {
    await observer.end();
  }
});

it('pool.query (callback style inside pg-pool) gets the same error, and answered statements are untouched', async () => {
  await expect(pool.query('SELECT pg_sleep(5)')).rejects.toBeInstanceOf(DatabaseNoAnswerError);
  await pool.query('INSERT INTO marks VALUES (1), (2)');
  const r = await pool.query<{ n: number }>('SELECT n FROM marks ORDER BY n');
  expect(r.rows.map((x) => x.n)).toEqual([1, 2]);
  // A statement that errors on the server keeps its own error (not a timeout).
  await expect(pool.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
});

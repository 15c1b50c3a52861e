import { Client } from 'pg';
import { createTestDatabase, TestDatabase } from '../support/database';

describe('embedded PostgreSQL (test server)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('pgsmoke');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('is a real server with advisory locks and LISTEN/NOTIFY across sessions', async () => {
    const a = new Client({ connectionString: db.url });
    const b = new Client({ connectionString: db.url });
    await a.connect();
    await b.connect();
    try {
      expect((await a.query('SELECT pg_try_advisory_lock(42) AS ok')).rows[0].ok).toBe(true);
      expect((await b.query('SELECT pg_try_advisory_lock(42) AS ok')).rows[0].ok).toBe(false);
      await b.query('LISTEN smoke');
      const got = new Promise<string>((resolve) => b.on('notification', (n) => resolve(n.payload ?? '')));
      await a.query("SELECT pg_notify('smoke', 'hello')");
      await expect(got).resolves.toBe('hello');
    } finally {
      await a.end();
      await b.end();
    }
  });
});

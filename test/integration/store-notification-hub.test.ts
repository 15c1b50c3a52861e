import { Client } from 'pg';
import { CHANNELS, NotificationHub } from '../../agent/src/store/notification-hub';
import { createTestDatabase, TestDatabase } from '../support/database';

// Waits on real leases and timeouts take seconds; jest's default 5 s per test is too short.
jest.setTimeout(60_000);

describe('NotificationHub (the store LISTEN connection)', () => {
  let db: TestDatabase;
  let hub: NotificationHub;
  let other: Client;
  const errors: Error[] = [];
  beforeAll(async () => {
    db = await createTestDatabase('storehub');
    hub = new NotificationHub(db.url, (e) => errors.push(e));
    await hub.start();
    other = new Client({ connectionString: db.url });
    await other.connect();
  });
  afterAll(async () => {
    await hub.close();
    await other.end();
    await db.drop();
  });

  it('wakes a waiter for its payload only, on NOTIFY from another session', async () => {
    const w = hub.waiter(CHANNELS.lockReleased, 'devops:blue_green_switch');
    try {
      await other.query(`SELECT pg_notify($1::text, $2::text)`, [CHANNELS.lockReleased, 'web:blue_green_switch']);
      expect(await w.wait(300)).toBe(false); // someone else's lock
      await other.query(`SELECT pg_notify($1::text, $2::text)`, [CHANNELS.lockReleased, 'devops:blue_green_switch']);
      expect(await w.wait(10_000)).toBe(true);
    } finally {
      w.cancel();
    }
  });

  it('a notification that arrives before wait() is not lost', async () => {
    const w = hub.waiter(CHANNELS.voteCast, 'p1');
    try {
      const seen = new Promise<void>((resolve) => {
        const off = hub.subscribe(CHANNELS.voteCast, () => {
          off();
          resolve();
        });
      });
      await other.query(`SELECT pg_notify($1::text, 'p1')`, [CHANNELS.voteCast]);
      await seen;
      expect(await w.wait(0)).toBe(true);
    } finally {
      w.cancel();
    }
  });

  it('re-opens the connection when it is killed, tells subscribers to re-check, and delivers again', async () => {
    const rechecks: Array<string | null> = [];
    const off = hub.subscribe(CHANNELS.proposalOpened, (p) => rechecks.push(p));
    try {
      await other.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'jsm-listen' AND datname = current_database()`);
      // Bounded wait for the re-check signal (reconnect backoff starts at 250 ms).
      for (let i = 0; i < 100 && !rechecks.includes(null); i++) await new Promise((r) => setTimeout(r, 100));
      expect(rechecks).toContain(null);
      expect(errors.length).toBeGreaterThan(0);
      const w = hub.waiter(CHANNELS.proposalOpened, 'after-reconnect');
      await other.query(`SELECT pg_notify($1::text, 'after-reconnect')`, [CHANNELS.proposalOpened]);
      expect(await w.wait(10_000)).toBe(true);
      w.cancel();
    } finally {
      off();
    }
  });
});

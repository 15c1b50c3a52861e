import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { startTrafficStack } from '../support/traffic-stack';

/**
 * The fault tests' scaffolding cleans up after itself: stop() leaves no
 * process, listener, directory or database behind, and a start that fails
 * half-way undoes what it had started before it throws.
 */
jest.setTimeout(60_000);

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.setTimeout(2_000, () => s.destroy());
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('close', () => resolve(false));
  });
}

async function databasesNamed(prefix: string): Promise<string[]> {
  const c = new Client({ connectionString: process.env.TEST_DATABASE_URL });
  await c.connect();
  try {
    const r = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${prefix}\\_%`]);
    return r.rows.map((row) => row.datname);
  } finally {
    await c.end();
  }
}

it('stop() stops the sidecar, haproxy and stand-ins, runs deferred cleanups first, and drops the database', async () => {
  const prefix = `ts${randomBytes(2).toString('hex')}`;
  const stack = await startTrafficStack({ prefix });
  const sc = stack.sidecars[0]!;
  expect((await stack.clients[0]!.call('environment.status', { team: stack.team.team_name })).result).toMatchObject({ active: 'blue' });
  expect(await stack.weights()).toEqual({ blue: 100, green: 0 });
  expect(await databasesNamed(prefix)).toHaveLength(1);
  const order: string[] = [];
  stack.defer(() => {
    order.push(sc.exited() ? 'after the sidecar' : 'before the sidecar');
  });

  await stack.stop();
  expect(order).toEqual(['before the sidecar']);
  expect(sc.exited()).toBe(true);
  expect(existsSync(sc.dir)).toBe(false);
  expect(stack.haproxy.child.exitCode !== null || stack.haproxy.child.signalCode !== null).toBe(true);
  expect(existsSync(stack.haproxy.dir)).toBe(false);
  expect(await listening(stack.haproxy.httpPort)).toBe(false);
  expect(await listening(stack.blue.port)).toBe(false);
  expect(await listening(stack.team.environments.green.web_port)).toBe(false);
  expect(await databasesNamed(prefix)).toEqual([]);
});

it('a start that fails half-way undoes what it started and throws the cause', async () => {
  const prefix = `ts${randomBytes(2).toString('hex')}`;
  let greenPort = 0;
  const started = startTrafficStack({
    prefix,
    startGreen: async (port) => {
      greenPort = port;
      throw new Error('green stand-in refused to start');
    },
  });
  await expect(started).rejects.toThrow('green stand-in refused to start');
  // The blue stand-in (green's port - 100) was started before green failed; it is closed again, and the database dropped.
  expect(greenPort).toBeGreaterThan(0);
  expect(await listening(greenPort - 100)).toBe(false);
  expect(await databasesNamed(prefix)).toEqual([]);
});

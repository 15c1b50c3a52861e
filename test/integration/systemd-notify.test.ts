import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { eventually } from '../support/eventually';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process';

/**
 * The sidecar under a systemd-like supervisor: a real unix datagram socket as
 * NOTIFY_SOCKET (received by a small python3 listener: Node cannot bind one)
 * and the real systemd-notify(1). Asserted: READY=1 with MAINPID once it
 * listens, WATCHDOG=1 pings at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM.
 */
jest.setTimeout(60_000);

let db: TestDatabase;
let dir: string;
let listener: ChildProcess;
let sc: SidecarProcess | null = null;
let received: string;

const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], 'a') as out:
    print('bound', flush=True)
    while True:
        out.write(s.recv(65536).decode() + '\\n--\\n')
        out.flush()
`;

beforeAll(async () => {
  db = await createTestDatabase('sdnotify');
  dir = mkdtempSync(join(tmpdir(), 'jsm-notify-'));
  received = join(dir, 'received');
  listener = spawn('python3', ['-c', RECEIVER, join(dir, 'notify.sock'), received], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    listener.stdout!.once('data', () => ok());
    listener.once('exit', (code) => fail(new Error(`python3 datagram listener exited (${code})`)));
  });
});

afterAll(async () => {
  await sc?.stop().catch(() => undefined);
  listener?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  await db?.drop();
});

const messages = (): string[] => (existsSync(received) ? readFileSync(received, 'utf8').split('\n--\n').filter(Boolean) : []);

it('tells systemd it is ready, pings the watchdog, and says when it stops', async () => {
  sc = await startSidecarProcess({
    databaseUrl: db.url,
    tokens: [{ id: 'ops', teams: ['*'] }],
    env: { NOTIFY_SOCKET: join(dir, 'notify.sock'), WATCHDOG_USEC: '400000' },
  });
  const ready = await eventually('READY=1', async () => messages().find((m) => m.split('\n').includes('READY=1')) ?? null, 15_000);
  expect(ready.split('\n')).toEqual(expect.arrayContaining([`MAINPID=${sc.pid}`, expect.stringMatching(/^STATUS=.* listening on http:\/\/127\.0\.0\.1:\d+$/)]));
  await eventually('three watchdog pings', async () => (messages().filter((m) => m.startsWith('WATCHDOG=1')).length >= 3 ? true : null), 15_000);

  const code = await sc.stop();
  sc = null;
  expect(code).toBe(0);
  const stopping = await eventually('STOPPING=1', async () => messages().find((m) => m.split('\n').includes('STOPPING=1')) ?? null, 10_000);
  expect(stopping).toContain('STATUS=stopping');
});

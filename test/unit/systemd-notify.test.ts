import { systemdNotifier, type NotifyRunner } from '../../agent/src/bin/systemd-notify';

/** What the sidecar tells systemd, with a fake systemd-notify (the real one is in test/integration/systemd-notify.test.ts). */
function recorder(fail = false) {
  const sent: string[][] = [];
  const run: NotifyRunner = (args, done) => {
    sent.push(args);
    done(fail ? new Error('spawn systemd-notify ENOENT') : null);
  };
  return { sent, run };
}
const log = () => {
  const warnings: string[] = [];
  return { warnings, warn: (m: string) => warnings.push(m) };
};

afterEach(() => jest.useRealTimers());

it('does nothing outside systemd (no NOTIFY_SOCKET)', () => {
  expect(systemdNotifier({}, log(), recorder().run, 42)).toBeNull();
});

it('sends READY with one-line STATUS and MAINPID, then STOPPING', () => {
  const r = recorder();
  const n = systemdNotifier({ NOTIFY_SOCKET: '/run/systemd/notify' }, log(), r.run, 42)!;
  n.ready('sc1 listening\non 127.0.0.1:8765');
  n.stopping();
  n.close();
  expect(r.sent).toEqual([
    ['READY=1', 'STATUS=sc1 listening on 127.0.0.1:8765', 'MAINPID=42'],
    ['STOPPING=1', 'STATUS=stopping: bringing operations to a safe point', 'MAINPID=42'],
  ]);
});

it('pings the watchdog twice per WATCHDOG_USEC while running, and not for another pid', () => {
  jest.useFakeTimers();
  const r = recorder();
  const n = systemdNotifier({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' }, log(), r.run, 42)!;
  jest.advanceTimersByTime(60_000);
  expect(r.sent.filter((a) => a[0] === 'WATCHDOG=1')).toHaveLength(4);
  n.close();
  jest.advanceTimersByTime(60_000);
  expect(r.sent).toHaveLength(4);

  const other = recorder();
  systemdNotifier({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, log(), other.run, 42)!.close();
  jest.advanceTimersByTime(60_000);
  expect(other.sent).toEqual([]);
});

it('warns once when systemd-notify cannot be run', () => {
  const r = recorder(true);
  const l = log();
  const n = systemdNotifier({ NOTIFY_SOCKET: '/run/systemd/notify' }, l, r.run, 42)!;
  n.ready('up');
  n.status('still up');
  expect(l.warnings).toHaveLength(1);
  expect(l.warnings[0]).toMatch(/NotifyAccess=all/);
});

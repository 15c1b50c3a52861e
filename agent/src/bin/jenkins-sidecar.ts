#!/usr/bin/env node
/**
 * `jenkins-sidecar [--config FILE]`: the entry point, the only code that touches
 * the process (signals, exit codes). Configuration: see agent/src/config/sidecar-config.ts.
 * Exit 0 after a graceful stop (SIGTERM/SIGINT), 1 when it cannot start (one line
 * saying why), 2 on a configuration or usage error.
 */
import { loadConfig } from '../config/load-config';
import { lineLog } from '../log';
import { startSidecar, StartupError } from '../sidecar';
import { systemdNotifier } from './systemd-notify';

const USAGE = 'usage: jenkins-sidecar [--config FILE]   (configuration by environment: SIDECAR_LISTEN, SIDECAR_DATABASE_URL, SIDECAR_DATA_DIR, ...)';

function fail(code: number, line: string): never {
  process.stderr.write(`jenkins-sidecar: ${line}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let configFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return;
    } else if (a === '--config' && args[i + 1]) configFile = args[++i];
    else if (a.startsWith('--config=')) configFile = a.slice('--config='.length);
    else fail(2, `unexpected argument '${a}'; ${USAGE}`);
  }
  const { config, warnings, errors } = loadConfig(configFile);
  if (!config) fail(2, `configuration: ${errors.join('; ')}`);

  // Warnings and notices wait until the start succeeded: a failed start prints exactly one line.
  const notices: string[] = warnings.map((w) => `warning: ${w}`);
  let handle;
  try {
    handle = await startSidecar({ config, notice: (l) => notices.push(l) });
  } catch (err) {
    fail(1, err instanceof StartupError ? err.message : `cannot start: ${(err as Error)?.message ?? String(err)}`);
  }
  for (const n of notices) process.stderr.write(`jenkins-sidecar: ${n}\n`);
  process.stderr.write(`jenkins-sidecar: ${handle.instanceId} listening on ${handle.httpUrl} (JSON-RPC at ${handle.rpcUrl})\n`);
  // Under systemd (Type=notify): ready now that the store, recovery and the listener are up; watchdog pings from here on.
  const systemd = systemdNotifier(process.env, lineLog((l) => process.stderr.write(`jenkins-sidecar: ${l}\n`)));
  systemd?.ready(`${handle.instanceId} listening on ${handle.httpUrl}`);

  // A sidecar that lost its embedded database stops the watchdog pings: systemd restarts it (WatchdogSec).
  handle.onFailure((why) => {
    process.stderr.write(`jenkins-sidecar: ${why}; /healthz answers 503 and the watchdog pings stop\n`);
    systemd?.close();
  });

  const h = handle;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) fail(1, `${sig} again during shutdown: exiting now; unfinished operations resume at next start`);
    // Bounded: the grace period for operations plus time to close connections.
    const deadline = setTimeout(() => fail(1, 'shutdown did not finish in time; unfinished operations resume at next start'), (h.config.shutdownGraceSec + 15) * 1000);
    deadline.unref();
    // Watchdog pings go on during the graceful stop (it may take the grace period); the process exit ends them.
    systemd?.stopping();
    h.stop(sig)
      .then(() => process.exit(0))
      .catch((err: Error) => fail(1, `error during shutdown: ${err.message}`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((err: Error) => fail(1, err?.message ?? String(err)));

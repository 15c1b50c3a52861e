import type { Command } from 'commander';
import { loadConfig } from '../config/load-config';
import { exitCodeFor, formatReport } from './check-result';
import { runDoctor } from './doctor';
import { hostProbes } from './host-probes';

/**
 * The `doctor` subcommand of sidecarctl. It reads the same configuration the
 * sidecar reads (environment, optional --config YAML), so run it with the
 * sidecar's environment: `sudo -u jenkins-sidecar env $(cat /etc/jenkins-sidecar/sidecar.env) sidecarctl doctor`
 * or `systemd-run --pipe -p EnvironmentFile=... sidecarctl doctor`.
 * Exit 0 when nothing failed (warnings allowed), 1 when something must be fixed.
 */
export interface DoctorCommandOptions {
  config?: string;
  json?: boolean;
  skipSidecar?: boolean;
  env?: Record<string, string | undefined>;
  write?: (text: string) => void;
}

export async function doctorCommand(opts: DoctorCommandOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const write = opts.write ?? ((text: string) => process.stdout.write(text));
  const configResult = loadConfig(opts.config, env);
  const source = opts.config ? `--config ${opts.config} and the environment` : 'the environment';
  const results = await runDoctor(configResult, source, hostProbes(), { probeRunningSidecar: !opts.skipSidecar });
  write(opts.json ? `${JSON.stringify({ ok: exitCodeFor(results) === 0, checks: results }, null, 2)}\n` : formatReport(results));
  return exitCodeFor(results);
}

/** Adds `doctor` to sidecarctl's commander program; the action sets process.exitCode. */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check this host for the sidecar: config, token file permissions, PostgreSQL, clock skew, HAProxy admin socket, Docker, versions')
    .option('--config <file>', 'the sidecar YAML config to check (as jenkins-sidecar --config)')
    .option('--json', 'print the checks as JSON')
    .option('--skip-sidecar', 'do not ask a running sidecar for /readyz')
    .action(async (o: { config?: string; json?: boolean; skipSidecar?: boolean }) => {
      process.exitCode = await doctorCommand({ config: o.config, json: o.json, skipSidecar: o.skipSidecar });
    });
}

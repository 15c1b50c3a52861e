import { loadConfig } from '../config/load-config';
import { exitCodeFor, formatReport } from './check-result';
import { runDoctor } from './doctor';
import { hostProbes } from './host-probes';

/**
 * `sidecarctl doctor` (wired in agent/src/cli/sidecarctl.ts). It reads the same configuration the
 * sidecar reads (environment, optional --config YAML), so run it with the
 * sidecar's environment and user, e.g.
 * `sudo -u jenkins-sidecar sh -c 'set -a; . /etc/jenkins-sidecar/sidecar.env; exec sidecarctl doctor'`.
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


import type { ConfigResult } from '../config/sidecar-config';
import { CheckResult, fail } from './check-result';
import { checkConfig, checkTeamsFile, checkTokensFile } from './file-checks';
import type { DoctorProbes } from './probes';
import { checkDocker, checkHaproxy, checkPostgres, checkRunningSidecar, checkVersions } from './service-checks';

/**
 * `sidecarctl doctor`: every check of a host, in a fixed order, each bounded
 * in time. A check that throws or hangs is itself reported as a failure — the
 * doctor never dies half-way through the list.
 */
export interface DoctorOptions {
  /** Upper bound per check (network probes have their own shorter timeouts). Default 10 s. */
  checkTimeoutMs?: number;
  /** Also ask the local sidecar's /readyz. Default true. */
  probeRunningSidecar?: boolean;
}

async function bounded(name: string, timeoutMs: number, run: () => Promise<CheckResult | CheckResult[]>): Promise<CheckResult[]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return Array.isArray(r) ? r : [r];
  } catch (err) {
    return [fail(name, `the check itself failed: ${(err as Error).message}`, 'run the doctor again; if it persists, report it with this output')];
  } finally {
    clearTimeout(timer);
  }
}

export async function runDoctor(configResult: ConfigResult, source: string, probes: DoctorProbes, opts: DoctorOptions = {}): Promise<CheckResult[]> {
  const t = opts.checkTimeoutMs ?? 10_000;
  const results: CheckResult[] = [checkConfig(configResult, source)];
  results.push(...(await bounded('versions', t, async () => checkVersions(probes))));
  const config = configResult.config;
  if (!config) return results; // every other check needs a configuration that parses
  results.push(...(await bounded('tokens file', t, async () => checkTokensFile(config, probes))));
  results.push(...(await bounded('teams file', t, async () => checkTeamsFile(config, probes))));
  results.push(...(await bounded('postgres', t, () => checkPostgres(config, probes))));
  results.push(...(await bounded('haproxy', t, () => checkHaproxy(config, probes))));
  results.push(...(await bounded('docker', t, () => checkDocker(config, probes))));
  if (opts.probeRunningSidecar ?? true) results.push(...(await bounded('sidecar', t, () => checkRunningSidecar(config, probes))));
  return results;
}

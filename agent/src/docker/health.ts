import type Docker from 'dockerode';
import { SidecarError } from '../sidecar-error';
import { sleep as realSleep } from '../sleep';
import { dockerDown } from './containers';

export type HealthVerdict = { state: 'healthy' } | { state: 'waiting'; detail: string } | { state: 'failed'; detail: string };

/**
 * Pure: what an inspect says about readiness. Docker's own health status wins
 * when the image has a check; without one the caller's HTTP probe decides
 * (`httpOk`). A container that exited never becomes healthy.
 */
/** A restart policy hides a crash at start behind "restarting": this many restarts before healthy is a failure. */
export const CRASH_LOOP_RESTARTS = 3;

export function judgeContainerHealth(info: Docker.ContainerInspectInfo, httpOk: boolean | null): HealthVerdict {
  const st = info.State;
  const healthyNow = !!st?.Running && (st.Health?.Status ? st.Health.Status === 'healthy' : httpOk === true);
  if (!healthyNow && (info.RestartCount ?? 0) >= CRASH_LOOP_RESTARTS) {
    return { state: 'failed', detail: `container keeps crashing (${info.RestartCount} restarts, last exit code ${st?.ExitCode ?? '?'})` };
  }
  if (!st?.Running) {
    if (st?.Status === 'created' || st?.Restarting) return { state: 'waiting', detail: `container is ${st?.Status}` };
    return { state: 'failed', detail: `container is ${st?.Status ?? 'unknown'} (exit code ${st?.ExitCode ?? '?'})` };
  }
  const health = st.Health;
  if (health?.Status) {
    if (health.Status === 'healthy') return { state: 'healthy' };
    const last = health.Log?.[health.Log.length - 1];
    const why = last ? `last check exit ${last.ExitCode}${last.Output ? `: ${last.Output.trim().slice(0, 200)}` : ''}` : 'no check has run yet';
    return { state: 'waiting', detail: `docker health ${health.Status} (${why})` };
  }
  if (httpOk === true) return { state: 'healthy' };
  return { state: 'waiting', detail: 'no Docker health check; HTTP probe of /login has not answered 200 yet' };
}

export const hasDockerHealthcheck = (info: Docker.ContainerInspectInfo): boolean => !!info.State?.Health?.Status;

export interface WaitHealthyOptions {
  timeoutMs: number;
  /** HTTP probe used when the image has no health check (GET <url>/login → 200). */
  probe: () => Promise<boolean>;
  pollMs?: number;
  signal?: AbortSignal;
  onWaiting?: (detail: string, elapsedMs: number) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Polls until healthy; TIMEOUT (with the last reason) after timeoutMs; fails fast when the container exits. */
export async function waitHealthy(docker: Docker, id: string, name: string, opts: WaitHealthyOptions): Promise<{ elapsedMs: number }> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? realSleep;
  const start = now();
  let lastDetail = 'not checked yet';
  let lastReport = -Infinity;
  const maxPolls = Math.ceil(opts.timeoutMs / (opts.pollMs ?? 500)) + 2;
  for (let i = 0; i < maxPolls; i++) {
    if (opts.signal?.aborted) throw new SidecarError('TIMEOUT', `waiting for ${name} to become healthy was aborted`, { container: name });
    let info: Docker.ContainerInspectInfo;
    try {
      info = await docker.getContainer(id).inspect();
    } catch (err) {
      throw dockerDown(`inspect ${name}`, err);
    }
    const httpOk = hasDockerHealthcheck(info) ? null : await opts.probe().catch(() => false);
    const verdict = judgeContainerHealth(info, httpOk);
    const elapsedMs = now() - start;
    if (verdict.state === 'healthy') return { elapsedMs };
    if (verdict.state === 'failed') {
      throw new SidecarError('DEPENDENCY_DOWN', `${name} stopped before becoming healthy: ${verdict.detail}; see \`docker logs ${name}\``, { container: name });
    }
    lastDetail = verdict.detail;
    if (elapsedMs - lastReport >= 2000) {
      opts.onWaiting?.(lastDetail, elapsedMs);
      lastReport = elapsedMs;
    }
    if (elapsedMs >= opts.timeoutMs) break;
    await sleep(opts.pollMs ?? 500);
  }
  throw new SidecarError('TIMEOUT', `${name} did not become healthy within ${Math.round(opts.timeoutMs / 1000)}s: ${lastDetail}`, { container: name, timeoutMs: opts.timeoutMs });
}

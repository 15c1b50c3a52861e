import type Docker from 'dockerode';
import type { SidecarConfig } from '../config/sidecar-config';
import { describeDockerError } from '../docker/containers';
import { haproxyProbe, readiness, type Probe, type ReadinessReport } from '../http/readiness';
import type { PgStore } from '../store';
import type { Database } from './database';

/** The local dependencies' probes: /readyz, the heartbeat's health score, the Voter's local facts and the dependency metric. */
export interface DependencyProbes {
  haproxy: Probe;
  docker: Probe;
  postgres: Probe;
  /** Every dependency (/readyz, sidecar_dependency_up). */
  all(): Promise<ReadinessReport>;
  /** This host's dependencies only (the heartbeat: the database is shared, not a fact about this host). */
  local(): Promise<ReadinessReport>;
}

export function dependencyProbes(config: SidecarConfig, docker: Docker, store: PgStore, db: Pick<Database, 'display'>): DependencyProbes {
  const haproxy = haproxyProbe(config.haproxySocket);
  const dockerProbe: Probe = async () => {
    try {
      await docker.ping();
      return { status: 'up', detail: config.dockerHost ?? 'default socket' };
    } catch (err) {
      // The same words as the DEPENDENCY_DOWN answers (socket gone / refused / permission).
      return { status: 'down', detail: `Docker at ${config.dockerHost ?? '/var/run/docker.sock'}: ${describeDockerError(err)}` };
    }
  };
  const postgres: Probe = async () => {
    await store.ping();
    return { status: 'up', detail: db.display };
  };
  return {
    haproxy,
    docker: dockerProbe,
    postgres,
    all: () => readiness({ postgres, haproxy, docker: dockerProbe }),
    local: () => readiness({ haproxy, docker: dockerProbe }),
  };
}

/** A probe as a check that throws when its dependency is down (the Voter's local facts). */
export const asCheck = (p: Probe) => async (): Promise<void> => {
  const s = await p();
  if (s.status === 'down') throw new Error(s.detail);
};

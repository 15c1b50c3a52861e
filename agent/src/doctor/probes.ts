/**
 * What the doctor's checks ask of the host. The checks are pure functions of
 * these answers (unit-tested with fixed answers); host-probes.ts answers them
 * for real. A probe that cannot reach something throws an Error carrying the
 * system `code` (ENOENT, EACCES, ECONNREFUSED, ETIMEDOUT, ...), which the
 * checks turn into a fix.
 */
export interface FileFacts {
  mode: number;
  uid: number;
  gid: number;
  isFile: boolean;
  isDirectory: boolean;
  size: number;
}

export interface PostgresFacts {
  /** Local clock just before and just after the query: the skew is measured against their midpoint. */
  before: Date;
  after: Date;
  dbNow: Date;
  /** e.g. "PostgreSQL 17.10 on x86_64-pc-linux-gnu ..." */
  version: string;
  /** server_version_num, e.g. 170010 */
  versionNum: number;
  /** How the cluster replicates, read on the primary; absent when the probe could not tell. */
  replication?: ReplicationFacts;
}

export interface ReplicationFacts {
  /** Each host of SIDECAR_DATABASE_URL: primary, standby, or why it did not answer. */
  servers: { hostPort: string; role: 'primary' | 'standby' | 'unreachable'; detail?: string }[];
  synchronousStandbyNames: string;
  synchronousCommit: string;
  /** pg_stat_replication on the primary. */
  standbys: { name: string; state: string; syncState: string; replayLagSec: number | null }[];
  /** The primary's timeline: the epoch in the high bits of fencing tokens. */
  timeline: number;
}

export interface DockerFacts {
  version: string;
  apiVersion: string;
  /** Containers carrying the sidecar's labels, when the probe counts them. */
  managedContainers?: number;
}

export interface DoctorProbes {
  /** null when the path does not exist; throws for other errors (EACCES on a parent, ...). */
  stat(path: string): FileFacts | null;
  readText(path: string): string;
  postgres(url: string): Promise<PostgresFacts>;
  /** Version line of the embedded PostgreSQL binaries; throws when they cannot be used. */
  embeddedPostgres(): string;
  /** Sends one fixed Runtime API command line and returns the reply. */
  haproxy(endpoint: HaproxyTarget, line: string): Promise<string>;
  docker(dockerHost: string | null): Promise<DockerFacts>;
  /** GET of the local sidecar's /readyz: status and body. */
  sidecar(url: string): Promise<{ status: number; body: string }>;
  /**
   * `library-gen verify --teams <file> --json` of this installation, run as its own
   * program (the daemon never loads the generator): each self-managed team's problem
   * lines. Throws when it cannot run.
   */
  conformance(teamsFile: string): Record<string, string[]>;
  nodeVersion: string;
  sidecarVersion: string;
}

export type HaproxyTarget = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export const errorCode = (err: unknown): string => {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : '';
};

/**
 * The coordination store's surface as the rest of the sidecar sees it.
 * Operations (traffic, environments, backups) take these interfaces as
 * arguments, so their logic is tested with fakes and wired to Postgres in
 * agent/src/store/ (createPgStore in index.ts). Times are Date; ids are strings.
 */
import type { EnvironmentName } from '../../../catalog/teams-file';

/** Who asked: the token identity and, when the caller is a Jenkins build, the build. */
export interface Actor {
  tokenId: string;
  /** e.g. devops/Infrastructure/Self-Managed-Blue-Green-Switch#41 */
  build?: string;
  instanceId: string;
}

export interface Clock {
  now(): Date;
}

// ---------- locks ----------
export interface LockGrant {
  lockName: string;
  token: number; // fencing token, from a sequence, increases on every grant
  expiresAt: Date;
  holder: string;
  /** acquire() only: how long it waited for the lock (ms). */
  waitedMs?: number;
  /** Id of the `audit` row written with the change (only when the request carried one). */
  auditId?: string;
}
/**
 * `audit` (optional): a row for deployment_audit that the store inserts IN THE SAME
 * TRANSACTION as the lock change, so the change and its record commit together (one
 * commit instead of two; the RPC dispatcher's per-call audit). acquire/renew write it only
 * when the lock is granted/renewed; release writes it whether or not a lock was removed.
 * The id is returned as `auditId`; without it the caller must write the row itself.
 */
export interface LockStore {
  /** `signal` ends a wait early (with LOCK_HELD): caller gone, shutdown. */
  acquire(req: { team: string; operation: string; ttlSec: number; waitSec: number; owner: string; actor: Actor; signal?: AbortSignal; audit?: AuditEntry }): Promise<LockGrant>;
  renew(req: { team: string; operation: string; token: number; ttlSec: number; audit?: AuditEntry }): Promise<LockGrant>;
  release(req: { team: string; operation: string; token?: number; owner: string; actor: Actor; audit?: AuditEntry }): Promise<{ released: boolean; auditId?: string }>;
  /** Throws SidecarError FENCED unless `token` is the live grant of the lock. */
  assertHeld(req: { team: string; operation: string; token: number }): Promise<LockGrant>;
  list(filter?: { team?: string }): Promise<LockGrant[]>;
}
export const lockNameFor = (team: string, operation: string): string => `${team}:${operation}`;

// ---------- operations journal ----------
export type OperationStatus = 'running' | 'succeeded' | 'failed' | 'rolled_back' | 'aborted';
export interface OperationRecord {
  id: string;
  type: string; // RPC method, e.g. traffic.switch
  team: string | null;
  status: OperationStatus;
  phase: string;
  ownerInstance: string; // the sidecar that runs it; recovery picks up its own
  initiatedBy: string;
  idempotencyKey: string | null;
  params: Record<string, unknown>;
  result: unknown;
  error: { code: string; message: string; data?: unknown } | null;
  startedAt: Date;
  completedAt: Date | null;
  steps: JournalStep[];
}
export interface JournalStep {
  seq: number;
  name: string;
  intent: Record<string, unknown>; // written BEFORE the side effect
  outcome: 'pending' | 'done' | 'failed';
  result: Record<string, unknown> | null; // written AFTER
  at: Date;
}
export interface OperationJournal {
  /** Starts a new operation, or returns the existing one for the same idempotencyKey (created=false). */
  begin(req: {
    type: string;
    team: string | null;
    params: Record<string, unknown>;
    idempotencyKey?: string;
    actor: Actor;
    /** At most one RUNNING operation per key (e.g. `self_management:<team>`); otherwise CONFLICT naming the running one. */
    exclusive?: string;
    /** An id and start time chosen by the sidecar: the row of an operation it ran while the database was unreachable (written afterwards). */
    id?: string;
    startedAt?: Date;
  }): Promise<{ operation: OperationRecord; created: boolean }>;
  intent(opId: string, name: string, intent: Record<string, unknown>): Promise<number>;
  outcome(opId: string, seq: number, outcome: 'done' | 'failed', result?: Record<string, unknown>): Promise<void>;
  phase(opId: string, phase: string, detail?: Record<string, unknown>): Promise<void>;
  finish(opId: string, status: Exclude<OperationStatus, 'running'>, result?: unknown, error?: OperationRecord['error']): Promise<void>;
  get(opId: string): Promise<OperationRecord | null>;
  /** Unfinished operations owned by this instance (for recovery at start). */
  unfinished(instanceId: string): Promise<OperationRecord[]>;
  list(filter?: { team?: string; status?: OperationStatus; limit?: number }): Promise<OperationRecord[]>;
  /** Running operations (any instance) started more than `olderThanSec` ago (the operation timeout: 45m). */
  runningOlderThan?(olderThanSec: number): Promise<OperationRecord[]>;
  /** Running operations whose owner has not heartbeated within `liveWithinSec`. */
  orphaned?(liveWithinSec: number): Promise<OperationRecord[]>;
  /** Takes over a running operation from a dead owner; null when another sidecar got it first or it ended. */
  adopt?(opId: string, fromInstance: string, toInstance: string): Promise<OperationRecord | null>;
}

// ---------- environment state (table environment_state) ----------
export interface TeamEnvironmentState {
  team: string;
  active: EnvironmentName;
  previous: EnvironmentName | null;
  /** Desired HAProxy weights; the reconcile loop re-applies them. */
  weights: { blue: number; green: number };
  /** Last side that held all traffic after a validated switch (rollback target). */
  lastKnownGood: EnvironmentName;
  updatedAt: Date;
}
export interface EnvironmentStateStore {
  /** Creates the row from the teams file's active_environment when absent. */
  ensure(team: string, initialActive: EnvironmentName): Promise<TeamEnvironmentState>;
  get(team: string): Promise<TeamEnvironmentState | null>;
  setDesiredWeights(team: string, weights: { blue: number; green: number }): Promise<void>;
  /** After a completed switch: active=target, previous=old active, lastKnownGood=target. */
  promote(team: string, target: EnvironmentName): Promise<TeamEnvironmentState>;
  recordHealth(team: string, env: EnvironmentName, status: string, metadata?: Record<string, unknown>): Promise<void>;
  list(): Promise<TeamEnvironmentState[]>;
}

// ---------- breakers ----------
export type BreakerState = 'closed' | 'open' | 'half_open';
export interface BreakerStatus {
  name: string; // e.g. infrastructure_modification:devops
  state: BreakerState;
  failures: number; // within the window
  openedAt: Date | null;
  retryAt: Date | null;
}
export interface BreakerStore {
  /** Throws SidecarError BREAKER_OPEN when open (or half-open with a trial in flight). Returns a trial handle. */
  admit(name: string): Promise<{ trial: boolean }>;
  recordSuccess(name: string): Promise<BreakerStatus>;
  recordFailure(name: string, reason: string): Promise<BreakerStatus>;
  status(name: string): Promise<BreakerStatus>;
  list(): Promise<BreakerStatus[]>;
}

// ---------- audit ----------
export interface AuditEntry {
  id?: string;
  operationType: string;
  team: string | null;
  sourceEnvironment?: string | null;
  targetEnvironment?: string | null;
  initiatedBy: string;
  status: string;
  rollbackReason?: string | null;
  metadata?: Record<string, unknown>;
  startedAt?: Date;
  completedAt?: Date | null;
  /** Who exactly: token id, Jenkins build, sidecar instance (stored in their own columns). */
  actor?: Actor;
  operationId?: string | null;
}
export interface AuditLog {
  record(entry: AuditEntry): Promise<string>;
  list(filter?: { team?: string; operationType?: string; limit?: number; since?: Date }): Promise<AuditEntry[]>;
}

// ---------- participants, leadership, consensus ----------
export interface Participant {
  instanceId: string;
  healthScore: number; // 0..100, higher is healthier
  details: Record<string, unknown>;
  lastHeartbeat: Date;
}
export interface ParticipantStore {
  heartbeat(instanceId: string, healthScore: number, details?: Record<string, unknown>): Promise<void>;
  /** Instances whose heartbeat is younger than `withinSec`. */
  live(withinSec: number): Promise<Participant[]>;
}

export interface LeaderLease {
  scope: string; // e.g. team:devops or global
  leader: string; // instanceId
  token: number; // fencing token: increases on every change of leader
  expiresAt: Date;
}
export interface LeadershipStore {
  /** Health-based: takes or keeps the lease if this candidate is the healthiest live one or the lease is free/expired. Throws NOT_LEADER otherwise. */
  establish(req: { scope: string; candidate: string; leaseSec: number }): Promise<LeaderLease>;
  current(scope: string): Promise<LeaderLease | null>;
  resign(scope: string, candidate: string): Promise<void>;
}

export type Vote = { voter: string; approve: boolean; reason: string; at: Date };
export interface ProposalDecision {
  proposalId: string;
  approved: boolean;
  reason: string;
  votes: Vote[];
  quorum: number; // floor(n/2)+1 of live participants
  participants: number;
}
export interface ConsensusStore {
  propose(req: { operation: string; team: string | null; details: Record<string, unknown>; proposer: string; timeoutSec: number; actor: Actor }): Promise<{ proposalId: string }>;
  vote(proposalId: string, vote: Omit<Vote, 'at'>): Promise<void>;
  /** Resolves as soon as the outcome is certain (quorum reached or impossible) or on timeout. */
  awaitDecision(proposalId: string, signal?: AbortSignal): Promise<ProposalDecision>;
  open(): Promise<Array<{ proposalId: string; operation: string; team: string | null; details: Record<string, unknown>; proposer: string }>>;
}

/** Everything the sidecar keeps in Postgres. Built by createPgStore() in store/index.ts. */
export interface Store {
  locks: LockStore;
  journal: OperationJournal;
  environments: EnvironmentStateStore;
  breakers: BreakerStore;
  audit: AuditLog;
  participants: ParticipantStore;
  leadership: LeadershipStore;
  consensus: ConsensusStore;
  /** Cheap liveness probe for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

// ---------- long operations ----------
/**
 * What an operation body receives from the runner (agent/src/operations/runner.ts):
 * the journal row, who asked, a progress sink (sent to the caller as JSON-RPC
 * `progress` notifications and to the dashboard) and an abort signal (emergency
 * stop, shutdown). Bodies journal each step's intent before acting.
 */
export interface OperationContext {
  operation: OperationRecord;
  actor: Actor;
  progress(event: { phase: string; message: string; [k: string]: unknown }): void;
  signal: AbortSignal;
  clock: Clock;
}

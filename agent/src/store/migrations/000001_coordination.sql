-- 000001: the coordination schema.
--
-- The seed's four tables keep their columns as the seed wrote them, with two
-- deliberate changes: every TIMESTAMP is TIMESTAMPTZ (sidecars on several hosts
-- share this database; a zone-less timestamp means something different on each)
-- and columns are ADDED where the sidecar needs them (fencing tokens, team,
-- idempotency, actors). Everything else is new and prefixed by what it holds.
--
-- Fencing tokens for locks AND leadership leases come from ONE sequence, so a
-- token seen anywhere orders every grant ever made.
CREATE SEQUENCE fencing_token_seq AS BIGINT START 1;

-- The operations journal: one row per operation (RPC method that changes things).
-- metadata = { params, phase, phaseDetail, steps: [{seq, name, intent, outcome,
-- result, at}], result, error, initiatedBy }. Steps are appended in place: the
-- intent is written BEFORE the side effect, the outcome AFTER it.
CREATE TABLE jenkins_coordination (
    id UUID PRIMARY KEY,
    operation_type VARCHAR(50) NOT NULL,
    coordinator_instance VARCHAR(255) NOT NULL,
    status VARCHAR(20) NOT NULL,
    consensus_nodes TEXT[],
    started_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    metadata JSONB,
    -- added
    team_name VARCHAR(50),
    initiated_by VARCHAR(255) NOT NULL DEFAULT '',
    idempotency_key VARCHAR(200),
    -- at most one RUNNING operation per exclusive key (seed: self_management_operations
    -- concurrent_limit 1), enforced by the partial unique index below
    exclusive_key VARCHAR(200),
    CONSTRAINT jenkins_coordination_status_check
        CHECK (status IN ('running', 'succeeded', 'failed', 'rolled_back', 'aborted'))
);
CREATE UNIQUE INDEX jenkins_coordination_exclusive_running
    ON jenkins_coordination (exclusive_key) WHERE status = 'running' AND exclusive_key IS NOT NULL;
CREATE INDEX jenkins_coordination_running ON jenkins_coordination (coordinator_instance) WHERE status = 'running';
CREATE INDEX jenkins_coordination_team_started ON jenkins_coordination (team_name, started_at DESC);

-- Idempotency keys: the same key re-attaches to the same operation. The key row is
-- inserted first in begin()'s transaction, so two racing callers serialise on it.
CREATE TABLE idempotency_keys (
    idempotency_key VARCHAR(200) PRIMARY KEY,
    operation_id UUID NOT NULL REFERENCES jenkins_coordination (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    operation_type VARCHAR(50) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Per team AND environment (seed): status, health, deployment metadata; added:
-- desired_weight, the HAProxy weight the reconcile loop re-applies to this side.
CREATE TABLE environment_state (
    team_name VARCHAR(50) NOT NULL,
    environment VARCHAR(10) NOT NULL,
    status VARCHAR(20) NOT NULL,
    jenkins_instance VARCHAR(255),
    last_health_check TIMESTAMPTZ,
    deployment_metadata JSONB,
    -- added
    desired_weight SMALLINT NOT NULL DEFAULT 0 CHECK (desired_weight BETWEEN 0 AND 256),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (team_name, environment),
    CHECK (environment IN ('blue', 'green'))
);

-- Per team: which side serves, which served before, and the rollback target.
-- Kept apart from environment_state because these name ONE side per team: a
-- switch updates one row atomically instead of flipping flags on two.
CREATE TABLE team_environment (
    team_name VARCHAR(50) PRIMARY KEY,
    active_environment VARCHAR(10) NOT NULL CHECK (active_environment IN ('blue', 'green')),
    previous_environment VARCHAR(10) CHECK (previous_environment IN ('blue', 'green')),
    last_known_good VARCHAR(10) NOT NULL CHECK (last_known_good IN ('blue', 'green')),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Leases with expiry (database clock) and a fencing token.
CREATE TABLE coordination_locks (
    lock_name VARCHAR(100) PRIMARY KEY,
    locked_by VARCHAR(255) NOT NULL,
    locked_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    operation_type VARCHAR(50),
    lock_metadata JSONB,
    -- added
    team_name VARCHAR(50) NOT NULL,
    fencing_token BIGINT NOT NULL
);

CREATE TABLE deployment_audit (
    id UUID PRIMARY KEY,
    operation_type VARCHAR(50) NOT NULL,
    team_name VARCHAR(50),
    source_environment VARCHAR(10),
    target_environment VARCHAR(10),
    initiated_by VARCHAR(255),
    started_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    status VARCHAR(20) NOT NULL,
    rollback_reason TEXT,
    audit_metadata JSONB,
    -- added: who exactly (token id, Jenkins build, sidecar) and which operation
    token_id VARCHAR(100),
    build VARCHAR(500),
    instance_id VARCHAR(255),
    operation_id UUID
);
CREATE INDEX deployment_audit_team_started ON deployment_audit (team_name, started_at DESC);
CREATE INDEX deployment_audit_started ON deployment_audit (started_at DESC);

-- Sidecars taking part in leadership and consensus.
CREATE TABLE participants (
    instance_id VARCHAR(255) PRIMARY KEY,
    health_score SMALLINT NOT NULL CHECK (health_score BETWEEN 0 AND 100),
    details JSONB NOT NULL DEFAULT '{}'::jsonb,
    last_heartbeat TIMESTAMPTZ NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One leadership lease per scope (team:<t> or global). Heartbeats of the leader
-- renew it by lease_sec; the token changes only when the leader changes.
CREATE TABLE leadership_leases (
    scope VARCHAR(100) PRIMARY KEY,
    leader VARCHAR(255) NOT NULL,
    fencing_token BIGINT NOT NULL,
    lease_sec INTEGER NOT NULL CHECK (lease_sec > 0),
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Majority-quorum proposals. `eligible` are the live participants at proposal
-- time (n = cardinality(eligible)); quorum = n/2+1.
CREATE TABLE consensus_proposals (
    id UUID PRIMARY KEY,
    operation VARCHAR(100) NOT NULL,
    team_name VARCHAR(50),
    details JSONB NOT NULL DEFAULT '{}'::jsonb,
    proposer VARCHAR(255) NOT NULL,
    eligible TEXT[] NOT NULL,
    quorum INTEGER NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'denied')),
    reason TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deadline TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ,
    token_id VARCHAR(100),
    build VARCHAR(500)
);
CREATE INDEX consensus_proposals_open ON consensus_proposals (created_at) WHERE status = 'open';

CREATE TABLE consensus_votes (
    proposal_id UUID NOT NULL REFERENCES consensus_proposals (id) ON DELETE CASCADE,
    voter VARCHAR(255) NOT NULL,
    approve BOOLEAN NOT NULL,
    reason TEXT NOT NULL,
    voted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (proposal_id, voter)
);

-- Circuit breakers (seed: infrastructure_modification 3 failures / 10m -> open 30m).
-- failure_times holds the failures inside the window; transitions are computed by
-- breaker-logic.ts and written back under a row lock.
CREATE TABLE circuit_breakers (
    name VARCHAR(150) PRIMARY KEY,
    state VARCHAR(20) NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failure_times TIMESTAMPTZ[] NOT NULL DEFAULT '{}',
    opened_at TIMESTAMPTZ,
    retry_at TIMESTAMPTZ,
    trial_started_at TIMESTAMPTZ,
    last_reason TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

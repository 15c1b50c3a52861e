-- Fencing tokens that never go backwards across a failover.
--
-- A sequence is WAL-logged 32 values ahead and replicated like any other write:
-- a standby promoted after it missed the old primary's last transactions
-- (asynchronous replication, or a synchronous one that was degraded) resumes the
-- sequence BELOW tokens already handed out (measured with PostgreSQL 15: 34 after
-- 41). Two holders could then carry the same token and both pass assertHeld.
--
-- So a token is EPOCH * 2^32 + sequence value, and the epoch is the server's
-- current timeline. Every promotion starts a new timeline whose id is greater
-- than the one it was promoted from (PostgreSQL picks the newest timeline it
-- knows plus one), so every token of the promoted server is above every token
-- of the old one, whatever the old one handed out that never arrived. Within a
-- timeline the sequence orders grants as before. Chosen over a high-water mark
-- kept by each sidecar: that only helps once EVERY sidecar that saw a token has
-- reported it, and a sidecar that is down cannot.
--
-- The timeline is read from the name of the current WAL segment
-- (pg_walfile_name(pg_current_wal_lsn())), NOT from pg_control_checkpoint():
-- promotion does not wait for a checkpoint, and for the first seconds after
-- `pg_ctl promote` the control file still carries the OLD timeline (measured:
-- checkpoint timeline 1 while the WAL segment was already on timeline 2). On a
-- standby pg_current_wal_lsn() fails ("recovery is in progress"): no grant there.
--
-- Limits: the sequence stops at 2^32 - 1 (nextval fails loudly rather than spill
-- into the epoch), and epochs stay below 2^21 so tokens stay exact integers in
-- JSON and JavaScript (below 2^53). A timeline id is reused only when a standby
-- is promoted without knowing of a newer timeline (two failovers in a row with no
-- shared WAL archive, the second promoting a standby that never followed the
-- first): docs/operations.md says how to rule that out.
--
-- A dump restored into a fresh server starts again on timeline 1: the operator
-- then raises fencing_epoch.offset_epochs (added to the timeline, so every later
-- promotion still raises the epoch) past the old cluster's epochs.
ALTER SEQUENCE fencing_token_seq MAXVALUE 4294967295;

CREATE TABLE fencing_epoch (
    only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    offset_epochs BIGINT NOT NULL DEFAULT 0 CHECK (offset_epochs >= 0)
);
INSERT INTO fencing_epoch DEFAULT VALUES;

CREATE FUNCTION jsm_next_fencing_token() RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  epoch BIGINT := ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint
                  + (SELECT offset_epochs FROM fencing_epoch);
BEGIN
  IF epoch >= 2097152 THEN
    RAISE EXCEPTION 'fencing epoch % (timeline + fencing_epoch.offset_epochs) is above 2097151: tokens would not be exact in JSON', epoch;
  END IF;
  RETURN epoch * 4294967296 + nextval('fencing_token_seq');
END
$$;

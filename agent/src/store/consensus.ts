import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { SidecarError } from '../sidecar-error';
import { Actor, ConsensusStore, ProposalDecision, Vote } from './contract';
import { tally } from './consensus-tally';
import { checkInstanceId, checkText } from './names';
import { CHANNELS, NotificationHub } from './notification-hub';

/**
 * Majority-quorum consensus in consensus_proposals / consensus_votes. propose()
 * fixes the electorate (participants live now, plus the proposer) and NOTIFYs
 * the voters (coordination/voter.ts); each vote is tallied in its own
 * transaction under the proposal's row lock, so the decision is written exactly
 * once, the moment it is certain. awaitDecision() sleeps on LISTEN for votes
 * and wakes at the deadline, when a timed-out proposal is denied.
 */
const MAX_TIMEOUT_SEC = 3600;
const WAKE_CAP_MS = 5_000;
const MAX_WAKEUPS = 100_000;

export interface OpenProposal {
  proposalId: string;
  operation: string;
  team: string | null;
  details: Record<string, unknown>;
  proposer: string;
  eligible: string[];
  deadline: Date;
}

interface ProposalRow {
  id: string;
  operation: string;
  team_name: string | null;
  details: Record<string, unknown>;
  proposer: string;
  eligible: string[];
  quorum: number;
  status: 'open' | 'approved' | 'denied';
  reason: string | null;
  created_at: Date;
  deadline: Date;
  db_now: Date;
}
interface VoteRow {
  voter: string;
  approve: boolean;
  reason: string;
  voted_at: Date;
}
const toVote = (v: VoteRow): Vote => ({ voter: v.voter, approve: v.approve, reason: v.reason, at: v.voted_at });

const timeoutOf = (p: ProposalRow): number => Math.round((p.deadline.getTime() - p.created_at.getTime()) / 1000);

export class PgConsensusStore implements ConsensusStore {
  constructor(
    private readonly pool: Pool,
    private readonly hub: NotificationHub,
    /** A participant counts as live when its heartbeat is younger than this. */
    private readonly liveWithinSec: number,
  ) {}

  async propose(req: { operation: string; team: string | null; details: Record<string, unknown>; proposer: string; timeoutSec: number; actor: Actor }): Promise<{ proposalId: string }> {
    const operation = checkText('proposal operation', req.operation, 100);
    const proposer = checkInstanceId(req.proposer);
    const timeoutSec = Math.trunc(req.timeoutSec);
    if (!(timeoutSec >= 1 && timeoutSec <= MAX_TIMEOUT_SEC)) throw new RangeError(`timeoutSec must be 1..${MAX_TIMEOUT_SEC}, got ${req.timeoutSec}`);
    const id = randomUUID();
    await this.pool.query(
      `WITH electorate AS (
         SELECT array_agg(x ORDER BY x) AS ids FROM (
           SELECT instance_id AS x FROM participants WHERE last_heartbeat > now() - $7::double precision * interval '1 second'
           UNION SELECT $5::text) s),
       ins AS (
         INSERT INTO consensus_proposals (id, operation, team_name, details, proposer, eligible, quorum, deadline, token_id, build)
         SELECT $1::uuid, $2::text, $3::text, $4::jsonb, $5::text, e.ids, cardinality(e.ids) / 2 + 1,
                now() + $6::int * interval '1 second', $8::text, $9::text
           FROM electorate e
         RETURNING id)
       SELECT pg_notify('${CHANNELS.proposalOpened}', id::text) FROM ins`,
      [id, operation, req.team, JSON.stringify(req.details ?? {}), proposer, timeoutSec, this.liveWithinSec, req.actor.tokenId, req.actor.build ?? null],
    );
    return { proposalId: id };
  }

  async vote(proposalId: string, vote: Omit<Vote, 'at'>): Promise<void> {
    const voter = checkInstanceId(vote.voter);
    const reason = checkText('vote reason', vote.reason, 2000);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const p = (await client.query<ProposalRow>('SELECT *, now() AS db_now FROM consensus_proposals WHERE id = $1::uuid FOR UPDATE', [proposalId])).rows[0];
      if (!p) throw this.notFound(proposalId);
      if (!p.eligible.includes(voter)) {
        throw new SidecarError('CONFLICT', `${voter} was not a live participant when proposal ${proposalId} was made, so its vote is not counted`, { reason: 'not_participant',
          proposalId,
          voter,
          eligible: p.eligible,
        });
      }
      // First vote stands: a voter cannot change its mind after others have counted on it.
      await client.query(
        'INSERT INTO consensus_votes (proposal_id, voter, approve, reason) VALUES ($1::uuid, $2::text, $3::boolean, $4::text) ON CONFLICT (proposal_id, voter) DO NOTHING',
        [proposalId, voter, vote.approve, reason],
      );
      if (p.status === 'open') {
        const votes = (await client.query<VoteRow>('SELECT voter, approve, reason, voted_at FROM consensus_votes WHERE proposal_id = $1::uuid ORDER BY voted_at, voter', [proposalId])).rows;
        // Only vote-decided outcomes here; the deadline is judged by awaitDecision.
        const t = tally({ eligible: p.eligible, quorum: p.quorum, votes: votes.map(toVote), now: p.db_now, deadline: new Date(8.64e15) });
        if (t.state !== 'open') {
          await client.query(`UPDATE consensus_proposals SET status = $2::text, reason = $3::text, decided_at = now() WHERE id = $1::uuid`, [proposalId, t.state, t.reason]);
        }
      }
      await client.query(`SELECT pg_notify('${CHANNELS.voteCast}', $1::text)`, [proposalId]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async read(proposalId: string): Promise<{ p: ProposalRow; votes: Vote[] }> {
    const p = (await this.pool.query<ProposalRow>('SELECT *, now() AS db_now FROM consensus_proposals WHERE id = $1::uuid', [proposalId])).rows[0];
    if (!p) throw this.notFound(proposalId);
    const votes = (await this.pool.query<VoteRow>('SELECT voter, approve, reason, voted_at FROM consensus_votes WHERE proposal_id = $1::uuid ORDER BY voted_at, voter', [proposalId])).rows;
    return { p, votes: votes.map(toVote) };
  }

  private decision(p: ProposalRow, votes: Vote[]): ProposalDecision {
    return {
      proposalId: p.id,
      approved: p.status === 'approved',
      reason: p.reason ?? '',
      votes,
      quorum: p.quorum,
      participants: p.eligible.length,
    };
  }

  /** The proposal's state now, decided or not (for operation.get / dashboards). */
  async get(proposalId: string): Promise<ProposalDecision & { status: ProposalRow['status']; deadline: Date }> {
    const { p, votes } = await this.read(proposalId);
    return { ...this.decision(p, votes), status: p.status, deadline: p.deadline };
  }

  async awaitDecision(proposalId: string, signal?: AbortSignal): Promise<ProposalDecision> {
    if (!/^[0-9a-f-]{36}$/i.test(proposalId)) throw this.notFound(proposalId);
    const waiter = this.hub.waiter(CHANNELS.voteCast, proposalId); // before the first read: no vote slips by
    try {
      for (let i = 0; i < MAX_WAKEUPS; i++) {
        const { p, votes } = await this.read(proposalId);
        if (p.status !== 'open') return this.decision(p, votes);
        if (p.db_now.getTime() >= p.deadline.getTime()) {
          const t = tally({ eligible: p.eligible, quorum: p.quorum, votes, now: p.db_now, deadline: p.deadline, timeoutSec: timeoutOf(p) });
          // Only an open proposal is closed by timeout; if a last vote decided it meanwhile, that stands.
          await this.pool.query(`UPDATE consensus_proposals SET status = 'denied', reason = $2::text, decided_at = now() WHERE id = $1::uuid AND status = 'open'`, [proposalId, t.reason]);
          continue;
        }
        if (signal?.aborted) throw new SidecarError('TIMEOUT', `stopped waiting for proposal ${proposalId}: the operation was aborted`, { proposalId });
        await waiter.wait(Math.min(p.deadline.getTime() - p.db_now.getTime() + 20, WAKE_CAP_MS), signal);
      }
      throw new SidecarError('TIMEOUT', `proposal ${proposalId} did not settle`, { proposalId });
    } finally {
      waiter.cancel();
    }
  }

  async open(): Promise<OpenProposal[]> {
    // Close overdue proposals nobody is awaiting any more (their proposer died), so
    // the table's open set stays honest for dashboards.
    await this.pool.query(
      `UPDATE consensus_proposals SET status = 'denied', decided_at = now(),
              reason = 'denied: timed out with nobody awaiting the decision (the proposing sidecar went away)'
        WHERE status = 'open' AND deadline <= now() - interval '5 seconds'`,
    );
    const r = await this.pool.query<ProposalRow>(`SELECT *, now() AS db_now FROM consensus_proposals WHERE status = 'open' AND deadline > now() ORDER BY created_at`);
    return r.rows.map((p) => ({ proposalId: p.id, operation: p.operation, team: p.team_name, details: p.details, proposer: p.proposer, eligible: p.eligible, deadline: p.deadline }));
  }

  /** Calls `fn` with a proposal id whenever one is opened (null: notifications may have been missed). Returns unsubscribe. */
  watchProposals(fn: (proposalId: string | null) => void): () => void {
    return this.hub.subscribe(CHANNELS.proposalOpened, fn);
  }

  private notFound(id: string): SidecarError {
    return new SidecarError('NOT_FOUND', `consensus proposal ${id} does not exist`, { proposalId: id });
  }
}

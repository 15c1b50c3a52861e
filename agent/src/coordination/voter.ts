import { isSidecarError } from '../sidecar-error';
import { decideVote } from './vote-policy';
import type { LocalFacts, ProposalView } from './local-facts';

/**
 * Each live sidecar votes on proposals BY ITSELF: the Voter (started by the
 * sidecar process) hears new proposals through LISTEN, judges each from its
 * LocalFacts and records its vote with the reason. A periodic sweep catches
 * proposals whose notification was missed (e.g. while the LISTEN connection was
 * re-opening). Sweeps never overlap; a proposal is voted on once.
 */
export interface ProposalFeed {
  open(): Promise<ProposalView[]>;
  vote(proposalId: string, vote: { voter: string; approve: boolean; reason: string }): Promise<void>;
  watchProposals(fn: (proposalId: string | null) => void): () => void;
}

export interface VoterOptions {
  instanceId: string;
  consensus: ProposalFeed;
  facts: LocalFacts;
  /** Fallback sweep period; default 5 s. */
  sweepMs?: number;
  onVote?: (v: { proposalId: string; approve: boolean; reason: string }) => void;
  onError?: (err: Error) => void;
}

const MAX_REMEMBERED = 10_000;

export class Voter {
  private readonly voted = new Set<string>();
  private unsubscribe: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: VoterOptions) {}

  async start(): Promise<void> {
    this.unsubscribe = this.opts.consensus.watchProposals(() => this.kick());
    this.timer = setInterval(() => this.kick(), this.opts.sweepMs ?? 5_000);
    this.timer.unref();
    this.kick();
    await this.running;
  }

  /** Waits for an in-flight sweep, then stops listening. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.sweep()
      .catch((err: Error) => this.opts.onError?.(err))
      .finally(() => {
        this.running = null;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async sweep(): Promise<void> {
    const open = await this.opts.consensus.open();
    for (const p of open) {
      if (this.stopped) return;
      if (this.voted.has(p.proposalId)) continue;
      if (p.eligible && !p.eligible.includes(this.opts.instanceId)) {
        // We were not live when it was proposed: our vote would not count.
        this.voted.add(p.proposalId);
        continue;
      }
      try {
        const decision = await this.judge(p);
        await this.opts.consensus.vote(p.proposalId, { voter: this.opts.instanceId, ...decision });
        this.opts.onVote?.({ proposalId: p.proposalId, ...decision });
        this.voted.add(p.proposalId);
      } catch (err) {
        this.opts.onError?.(err as Error);
        // A refusal (not eligible: we were not live at proposal time; gone) is final;
        // anything else (database hiccup) is retried by the next sweep.
        if (isSidecarError(err)) this.voted.add(p.proposalId);
      }
    }
    if (this.voted.size > MAX_REMEMBERED) {
      const stillOpen = new Set(open.map((p) => p.proposalId));
      for (const id of this.voted) if (!stillOpen.has(id)) this.voted.delete(id);
    }
  }

  private async judge(p: ProposalView): Promise<{ approve: boolean; reason: string }> {
    try {
      const [openBreakers, conflicting, unhealthyDependencies] = await Promise.all([
        this.opts.facts.openBreakers(p),
        this.opts.facts.conflictingOperation(p),
        this.opts.facts.unhealthyDependencies(),
      ]);
      return decideVote({ openBreakers, conflicting, unhealthyDependencies });
    } catch (err) {
      // A sidecar that cannot establish its facts must not approve blindly.
      return { approve: false, reason: `could not check local facts: ${(err as Error).message}` };
    }
  }
}

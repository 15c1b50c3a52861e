import { isSidecarError } from '../sidecar-error';
import type { LeaderLease, LeadershipStore } from '../store/contract';

/**
 * Keeps this sidecar a candidate for the given scopes: every `leaseSec / 3` it
 * calls establish(), which takes a free or lapsed lease, keeps its own, or is
 * refused (NOT_LEADER) while a healthy leader holds it. So when a leader stops,
 * a campaigning sidecar holds the lease within one lease period plus one tick,
 * without waiting for a pipeline to ask. Optional: leadership.establish calls
 * work without it.
 */
export interface LeaderCampaignOptions {
  leadership: Pick<LeadershipStore, 'establish' | 'resign'>;
  instanceId: string;
  scopes: string[];
  leaseSec: number;
  onChange?: (scope: string, lease: LeaderLease | null, isLeader: boolean) => void;
  onError?: (err: Error) => void;
}

export class LeaderCampaign {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  private readonly leading = new Map<string, boolean>();

  constructor(private readonly opts: LeaderCampaignOptions) {}

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(200, Math.floor((this.opts.leaseSec * 1000) / 3)));
    this.timer.unref();
  }

  isLeader(scope: string): boolean {
    return this.leading.get(scope) === true;
  }

  private async tick(): Promise<void> {
    if (this.running || this.stopped) return; // a slow round must not pile up
    this.running = true;
    try {
      for (const scope of this.opts.scopes) {
        let lease: LeaderLease | null = null;
        try {
          lease = await this.opts.leadership.establish({ scope, candidate: this.opts.instanceId, leaseSec: this.opts.leaseSec });
        } catch (err) {
          if (!(isSidecarError(err) && err.code === 'NOT_LEADER')) this.opts.onError?.(err as Error);
        }
        const now = lease?.leader === this.opts.instanceId;
        if (now !== this.leading.get(scope)) this.opts.onChange?.(scope, lease, now);
        this.leading.set(scope, now);
      }
    } finally {
      this.running = false;
    }
  }

  /** Stops campaigning; with `resign` gives up held leases at once (graceful shutdown). */
  async stop(resign = true): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const held = [...this.leading].filter(([, leads]) => leads).map(([scope]) => scope);
    // A stopped campaign claims nothing; a lease it did not resign lapses on its own.
    this.leading.clear();
    if (!resign) return;
    for (const scope of held) await this.opts.leadership.resign(scope, this.opts.instanceId).catch((err: Error) => this.opts.onError?.(err));
  }
}

import type { DashboardIdentity } from './live-events';
import { isOps } from './live-events';

export interface StreamLimits {
  maxStreams: number;
  perToken: number;
  /** Streams of the pool only the ops token may take, so team tokens can never starve ops. */
  opsReserved: number;
}

export type SlotGrant = { ok: true; release: () => void } | { ok: false; status: 429 | 503; error: { code: string; reason?: string; message: string } };

/** Counts the open live streams: in all, of team tokens, and per token. */
export class StreamSlots {
  private open = 0;
  private team = 0;
  private readonly byToken = new Map<string, number>();

  constructor(private readonly limits: StreamLimits) {}

  /** A slot for `who`, or the refusal to send; `release` gives it back exactly once. */
  take(who: DashboardIdentity): SlotGrant {
    const { maxStreams, perToken, opsReserved } = this.limits;
    const ops = isOps(who);
    const mine = this.byToken.get(who.id) ?? 0;
    if (mine >= perToken) {
      return { ok: false, status: 429, error: { code: 'CONFLICT', reason: 'in_flight_limit', message: `token ${who.id} already has ${mine} live dashboard streams (limit ${perToken} per token); close other dashboard tabs and retry` } };
    }
    if (this.open >= maxStreams || (!ops && this.team >= maxStreams - opsReserved)) {
      return { ok: false, status: 503, error: { code: 'DEPENDENCY_DOWN', message: `too many live dashboard streams (${maxStreams}); close other dashboard tabs and retry` } };
    }
    this.open += 1;
    if (!ops) this.team += 1;
    this.byToken.set(who.id, mine + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.open -= 1;
        if (!ops) this.team -= 1;
        const left = (this.byToken.get(who.id) ?? 1) - 1;
        if (left > 0) this.byToken.set(who.id, left);
        else this.byToken.delete(who.id);
      },
    };
  }
}

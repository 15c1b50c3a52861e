import type { Vote } from './contract';

/**
 * Majority quorum, pure. n = participants live at proposal time (`eligible`);
 * quorum = floor(n/2)+1. Approved as soon as yes-votes reach the quorum; denied
 * as soon as the quorum is out of reach, or at the deadline. Votes from
 * instances outside `eligible` are not counted.
 */
export const quorumFor = (n: number): number => Math.floor(n / 2) + 1;

export interface Tally {
  state: 'open' | 'approved' | 'denied';
  reason: string;
  yes: number;
  no: number;
}

const reasons = (votes: Vote[]): string => votes.map((v) => `${v.voter} ${v.approve ? 'yes' : 'no'}: ${v.reason}`).join('; ');

export function tally(input: { eligible: string[]; quorum: number; votes: Vote[]; now: Date; deadline: Date; timeoutSec?: number }): Tally {
  const eligible = new Set(input.eligible);
  const counted = input.votes.filter((v) => eligible.has(v.voter));
  const yes = counted.filter((v) => v.approve).length;
  const no = counted.length - yes;
  const n = eligible.size;
  const q = input.quorum;
  if (yes >= q) {
    return { state: 'approved', yes, no, reason: `approved: ${yes} of ${n} participants voted yes (quorum ${q}): ${reasons(counted)}` };
  }
  const undecided = n - counted.length;
  if (yes + undecided < q) {
    return { state: 'denied', yes, no, reason: `denied: ${no} of ${n} participants voted no, so quorum ${q} cannot be reached: ${reasons(counted)}` };
  }
  if (input.now.getTime() >= input.deadline.getTime()) {
    const voted = new Set(counted.map((v) => v.voter));
    const missing = input.eligible.filter((e) => !voted.has(e));
    const after = input.timeoutSec !== undefined ? ` after ${input.timeoutSec}s` : '';
    return {
      state: 'denied',
      yes,
      no,
      reason:
        `denied: timed out${after} with ${yes} yes of quorum ${q} (${n} participants); no vote from ${missing.join(', ') || 'nobody'}` +
        (counted.length ? `; votes: ${reasons(counted)}` : ''),
    };
  }
  return { state: 'open', yes, no, reason: `waiting: ${yes} yes, ${no} no of ${n} participants (quorum ${q})` };
}

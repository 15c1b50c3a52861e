import { createHash, timingSafeEqual } from 'node:crypto';
import type { TokenEntry } from '../config/tokens-file';
import type { Principal } from './principal';

/**
 * Bearer tokens → principals. Only the sha256 of each secret is kept; the
 * presented token is hashed and compared with every entry in constant time
 * (timingSafeEqual on equal-length digests), and every entry is visited so the
 * time taken does not say which one matched.
 */
export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: string };

const BEARER = /^Bearer ([\x21-\x7e]{16,512})$/;

export class TokenAuthenticator {
  private readonly entries: Array<{ digest: Buffer; principal: Principal }>;

  constructor(tokens: readonly TokenEntry[]) {
    this.entries = tokens.map((t) => ({ digest: Buffer.from(t.sha256, 'hex'), principal: { tokenId: t.id, teams: [...t.teams] } }));
  }

  authenticate(authorization: string | undefined): AuthResult {
    if (!authorization) return { ok: false, reason: 'missing Authorization: Bearer <token> header (set SIDECAR_TOKEN)' };
    const m = BEARER.exec(authorization.trim());
    if (!m) return { ok: false, reason: 'malformed Authorization header: expected "Bearer <token>"' };
    const presented = sha256(m[1]!);
    let found: Principal | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(presented, e.digest) && !found) found = e.principal;
    }
    return found ? { ok: true, principal: found } : { ok: false, reason: 'unknown token: it matches no entry of the tokens file' };
  }
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export const sha256Hex = (text: string): string => sha256(text).toString('hex');

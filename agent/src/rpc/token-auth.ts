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

/** RFC 7235 section 2.1: the auth-scheme is case-insensitive ("bearer" is "Bearer"). */
const BEARER = /^Bearer +(.*)$/is;
/**
 * The rule for every secret: 16-512 printable ASCII characters. The tokens file holds only
 * sha256 digests, so a shorter secret cannot be caught at load; it is refused here, saying so.
 */
export const TOKEN_PATTERN = /^[\x21-\x7e]{16,512}$/;
export const TOKEN_RULE = 'tokens are 16–512 printable characters (ASCII 0x21–0x7e)';

export class TokenAuthenticator {
  private readonly entries: Array<{ digest: Buffer; principal: Principal }>;

  constructor(tokens: readonly TokenEntry[]) {
    this.entries = tokens.map((t) => ({ digest: Buffer.from(t.sha256, 'hex'), principal: { tokenId: t.id, teams: [...t.teams] } }));
  }

  authenticate(authorization: string | undefined): AuthResult {
    if (!authorization) return { ok: false, reason: 'missing Authorization: Bearer <token> header (set SIDECAR_TOKEN)' };
    const m = BEARER.exec(authorization.trim());
    if (!m) return { ok: false, reason: 'malformed Authorization header: expected "Bearer <token>"' };
    const token = m[1]!;
    if (!TOKEN_PATTERN.test(token)) return { ok: false, reason: `malformed bearer token: ${TOKEN_RULE}; this one has ${token.length}` };
    const presented = sha256(token);
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

import { authorize } from '../../agent/src/rpc/dispatcher';
import { sha256Hex, TokenAuthenticator } from '../../agent/src/rpc/token-auth';

const OPS = 'ops-secret-0123456789abcdef';
const TEAM = 'devops-secret-0123456789abcdef';
const auth = new TokenAuthenticator([
  { id: 'ops', sha256: sha256Hex(OPS), teams: ['*'] },
  { id: 'devops-ci', sha256: sha256Hex(TEAM), teams: ['devops'] },
]);

describe('TokenAuthenticator', () => {
  it('maps a bearer token to its principal', () => {
    expect(auth.authenticate(`Bearer ${TEAM}`)).toEqual({ ok: true, principal: { tokenId: 'devops-ci', teams: ['devops'] } });
    expect(auth.authenticate(`Bearer ${OPS}`)).toEqual({ ok: true, principal: { tokenId: 'ops', teams: ['*'] } });
  });

  it('takes the scheme name in any case (RFC 7235 section 2.1: auth-scheme is case-insensitive)', () => {
    for (const scheme of ['bearer', 'BEARER', 'beaRer']) {
      expect(auth.authenticate(`${scheme} ${TEAM}`)).toEqual({ ok: true, principal: { tokenId: 'devops-ci', teams: ['devops'] } });
    }
  });

  it('refuses missing, malformed and unknown tokens with a reason', () => {
    expect(auth.authenticate(undefined)).toEqual({ ok: false, reason: 'missing Authorization: Bearer <token> header (set SIDECAR_TOKEN)' });
    expect(auth.authenticate(`Basic ${TEAM}`)).toEqual({ ok: false, reason: 'malformed Authorization header: expected "Bearer <token>"' });
    expect(auth.authenticate('Bearer short')).toEqual({ ok: false, reason: 'malformed bearer token: tokens are 16–512 printable characters (ASCII 0x21–0x7e); this one has 5' });
    expect(auth.authenticate(`Bearer ${'x'.repeat(513)}`)).toMatchObject({ ok: false, reason: expect.stringContaining('tokens are 16–512 printable characters') });
    expect(auth.authenticate(`Bearer ${TEAM} extra`)).toMatchObject({ ok: false, reason: expect.stringContaining('tokens are 16–512 printable characters') });
    expect(auth.authenticate(`Bearer ${TEAM}x`)).toEqual({ ok: false, reason: 'unknown token: it matches no entry of the tokens file' });
  });
});

describe('authorize (MethodSpec.scope)', () => {
  const team = { tokenId: 'devops-ci', teams: ['devops'] };
  const ops = { tokenId: 'ops', teams: ['*'] };

  it('lets a team token act on its team only', () => {
    expect(authorize(team, 'team', 'devops', 'lock.acquire')).toBeNull();
    const denied = authorize(team, 'team', 'payments', 'lock.acquire');
    expect(denied?.code).toBe('FORBIDDEN');
    expect(denied?.message).toBe("token devops-ci may act on team(s) devops, not payments; use that team's token (Jenkins credential sidecar-token)");
  });

  it('lets an ops token act on every team and ops-only methods', () => {
    expect(authorize(ops, 'team', 'payments', 'lock.acquire')).toBeNull();
    expect(authorize(ops, 'ops', null, 'x.y')).toBeNull();
    expect(authorize(team, 'ops', null, 'x.y')?.code).toBe('FORBIDDEN');
  });

  it('leaves team-scoped calls without a team to the handler (it filters by visible teams)', () => {
    expect(authorize(team, 'team', null, 'lock.list')).toBeNull();
    expect(authorize(team, 'any', null, 'rpc.discover')).toBeNull();
  });
});

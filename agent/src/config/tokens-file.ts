import { parseDocument } from 'yaml';
import { z } from 'zod';
import { TEAM_NAME_PATTERN } from '../../../catalog/teams-file';

/**
 * SIDECAR_TOKENS_FILE: YAML `tokens:` list of `{id, sha256, teams}`; `sha256` is
 * the hex SHA-256 of the secret, `teams: ["*"]` makes an ops token. The file
 * holds no secrets in clear, but it decides who may move traffic, so a
 * world-readable (or world-writable) file is refused. A digest cannot say how long its
 * secret was: the 16-512 printable characters rule (rpc/token-auth.ts TOKEN_RULE) is
 * enforced, and stated, when a token is presented.
 */
export interface TokenEntry {
  id: string;
  sha256: string;
  teams: string[];
}

const entrySchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_.@-]{1,100}$/, 'expected 1-100 characters of [A-Za-z0-9_.@-]'),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits (sha256sum of the token)')
      .transform((s) => s.toLowerCase()),
    teams: z
      .array(z.string().refine((t) => t === '*' || TEAM_NAME_PATTERN.test(t), 'expected a team name or "*"'))
      .min(1, 'list at least one team, or ["*"] for an ops token'),
  })
  .strict();
const fileSchema = z.object({ tokens: z.array(entrySchema) }).strict();

/** Pure: the file's text and mode in, tokens and one line per problem out. */
export function parseTokensDocument(text: string, file: string, mode?: number): { tokens: TokenEntry[]; errors: string[] } {
  const errors: string[] = [];
  if (mode !== undefined && (mode & 0o006) !== 0) {
    errors.push(`${file}: is readable or writable by everyone (mode ${(mode & 0o777).toString(8)}); run 'chmod 600 ${file}'`);
  }
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) return { tokens: [], errors: [...errors, ...doc.errors.map((e) => `${file}: YAML: ${e.message.split('\n')[0]}`)] };
  const parsed = fileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    for (const i of parsed.error.issues) errors.push(`${file}: ${i.path.map(String).join('.') || 'top level'}: ${i.message}`);
    return { tokens: [], errors };
  }
  const ids = new Set<string>();
  const hashes = new Set<string>();
  parsed.data.tokens.forEach((t, index) => {
    if (ids.has(t.id)) errors.push(`${file}: tokens.${index}.id: ${t.id} is defined more than once`);
    if (hashes.has(t.sha256)) errors.push(`${file}: tokens.${index}.sha256: the same secret is listed twice (token ${t.id})`);
    if (t.teams.includes('*') && t.teams.length > 1) errors.push(`${file}: tokens.${index}.teams: "*" already means every team; list it alone`);
    ids.add(t.id);
    hashes.add(t.sha256);
  });
  return errors.length ? { tokens: [], errors } : { tokens: parsed.data.tokens, errors };
}

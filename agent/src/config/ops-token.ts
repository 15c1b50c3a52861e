import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { sha256Hex } from '../rpc/token-auth';
import type { TokenEntry } from './tokens-file';
import { dataDirLayout } from './data-dir';

/**
 * Without SIDECAR_TOKENS_FILE the sidecar still starts for a local try-out, but
 * never without authentication: it keeps one ops token in `<dataDir>/ops-token`
 * (mode 600, created once, reused on restart) and accepts only that token.
 * `export SIDECAR_TOKEN=$(cat <dataDir>/ops-token)` makes sidecarctl use it.
 */
export const OPS_TOKEN_ID = 'local-ops';

export function ensureOpsToken(dataDir: string): { path: string; created: boolean; entry: TokenEntry } {
  const path = dataDirLayout(dataDir).opsToken;
  let created = false;
  if (!existsSync(path)) {
    const token = `jsm_${randomBytes(32).toString('base64url')}`;
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
    renameSync(tmp, path);
    created = true;
  } else if ((statSync(path).mode & 0o077) !== 0) {
    chmodSync(path, 0o600); // a token readable by others is no token
  }
  const token = readFileSync(path, 'utf8').trim();
  if (token.length < 16) throw new Error(`${path} holds no usable token (shorter than 16 characters); delete it to generate a new one`);
  return { path, created, entry: { id: OPS_TOKEN_ID, sha256: sha256Hex(token), teams: ['*'] } };
}

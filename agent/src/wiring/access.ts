import { readFileSync, statSync } from 'node:fs';
import { loadTeamsFile } from '../../../catalog/teams-file';
import { ensureOpsToken } from '../config/ops-token';
import type { SidecarConfig } from '../config/sidecar-config';
import { TeamDirectory } from '../config/team-directory';
import { parseTokensDocument, type TokenEntry } from '../config/tokens-file';
import { TokenAuthenticator } from '../rpc/token-auth';
import { StartupError } from './context';

/** Who may call (the tokens) and which teams exist (the teams file). */
export interface Access {
  auth: TokenAuthenticator;
  teams: TeamDirectory;
  /** Where the generated ops token lives when no tokens file is configured. */
  opsTokenFile: string | null;
}

export function wireAccess(config: SidecarConfig, notice: (line: string) => void): Access {
  const { tokens, opsTokenFile } = loadTokens(config, notice);
  return { auth: new TokenAuthenticator(tokens), teams: loadTeams(config), opsTokenFile };
}

function loadTeams(config: SidecarConfig): TeamDirectory {
  if (!config.teamsFile) return new TeamDirectory(null);
  const t = loadTeamsFile(config.teamsFile);
  if (t.errors.length) throw new StartupError(t.errors.join('; '));
  return new TeamDirectory(t.teams);
}

function loadTokens(config: SidecarConfig, notice: (l: string) => void): { tokens: TokenEntry[]; opsTokenFile: string | null } {
  if (config.tokensFile) {
    let text: string;
    let mode: number;
    try {
      text = readFileSync(config.tokensFile, 'utf8');
      mode = statSync(config.tokensFile).mode;
    } catch (err) {
      throw new StartupError(`SIDECAR_TOKENS_FILE ${config.tokensFile}: cannot read: ${(err as Error).message}`);
    }
    const parsed = parseTokensDocument(text, config.tokensFile, mode);
    if (parsed.errors.length) throw new StartupError(parsed.errors.join('; '));
    if (parsed.tokens.length === 0) throw new StartupError(`${config.tokensFile}: lists no tokens; nobody could call the sidecar`);
    return { tokens: parsed.tokens, opsTokenFile: null };
  }
  const ops = ensureOpsToken(config.dataDir);
  notice(
    `no SIDECAR_TOKENS_FILE: ${ops.created ? 'generated' : 'using'} the local ops token in ${ops.path} (mode 600); ` +
      `export SIDECAR_TOKEN="$(cat ${ops.path})" to use sidecarctl`,
  );
  return { tokens: [ops.entry], opsTokenFile: ops.path };
}

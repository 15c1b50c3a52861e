import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { parseTeamsDocument } from '../../../catalog/teams-file';
import { loadTemplates } from '../template-source';
import { runSmoke } from './smoke';

export interface SmokeCommandOptions {
  teams: string;
  team: string;
  baseImage?: string;
  secretsRoot?: string;
  libraryDir?: string;
  port?: string;
  agentPort?: string;
  timeout?: string;
  keep?: boolean;
  templates?: string;
}

/** A port nobody listens on now (the smoke controller uses host networking, like deploy). */
async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? ok(a.port) : fail(new Error('no port'))));
    });
  });
}

const int = (v: string | undefined, dflt: number, what: string): number => {
  if (v === undefined) return dflt;
  if (!/^\d{1,5}$/.test(v)) throw new Error(`${what} must be a number, got '${v}'`);
  return Number(v);
};

/** `library-gen smoke --teams F --team T`: exit 0 when every check passed. */
export async function smokeCommand(o: SmokeCommandOptions, write: (l: string) => void): Promise<number> {
  const { teams, errors } = parseTeamsDocument(readFileSync(o.teams, 'utf8'), o.teams);
  if (errors.length) {
    for (const e of errors) write(e);
    return 1;
  }
  const team = teams.find((t) => t.team_name === o.team);
  if (!team) {
    write(`${o.teams}: no team ${o.team} (teams: ${teams.map((t) => t.team_name).join(', ')})`);
    return 1;
  }
  // The same defaults as the sidecar's SIDECAR_CONTROLLER_SECRETS_ROOT / _LIBRARY_DIR.
  const defaultRoot = process.getuid?.() === 0 ? '/etc/jenkins-selfmanage/teams' : join(homedir(), '.jenkins-selfmanage', 'teams');
  const result = await runSmoke({
    team,
    docker: new Docker(),
    templates: loadTemplates(o.templates ? resolve(o.templates) : undefined),
    controllerFiles: {
      secretsRoot: o.secretsRoot ?? process.env.SIDECAR_CONTROLLER_SECRETS_ROOT ?? defaultRoot,
      libraryDir: o.libraryDir ?? process.env.SIDECAR_CONTROLLER_LIBRARY_DIR ?? null,
    },
    ...(o.baseImage ? { baseImage: o.baseImage } : {}),
    webPort: int(o.port, await freePort(), '--port'),
    agentPort: int(o.agentPort, await freePort(), '--agent-port'),
    timeoutSec: int(o.timeout, 600, '--timeout'),
    keep: !!o.keep,
    log: write,
  });
  write(result.ok ? `smoke of team ${team.team_name}: every check passed` : `smoke of team ${team.team_name}: ${result.failures.length} check(s) failed`);
  return result.ok ? 0 : 1;
}

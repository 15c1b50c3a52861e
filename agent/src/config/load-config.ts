import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { resolveConfig, type ConfigResult } from './sidecar-config';

/** The thin loader: reads the process environment, host facts and the --config file, then resolves. */
export function loadConfig(configFile?: string, env: Record<string, string | undefined> = process.env): ConfigResult {
  const host = { hostname: hostname(), homeDir: env.HOME || homedir(), isRoot: process.getuid?.() === 0, cwd: process.cwd() };
  let file: { path: string; text: string } | undefined;
  if (configFile) {
    try {
      file = { path: configFile, text: readFileSync(configFile, 'utf8') };
    } catch (err) {
      return { config: null, warnings: [], errors: [`--config ${configFile}: cannot read: ${(err as Error).message}`] };
    }
  }
  return resolveConfig(env, host, file);
}

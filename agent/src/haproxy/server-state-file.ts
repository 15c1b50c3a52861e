import { renameSync, writeFileSync } from 'node:fs';
import type { HaproxyRuntime } from './runtime-api';

/**
 * Before HAProxy reloads, write `show servers state` to the config's
 * `server-state-file` so the new process starts with the runtime weights and
 * admin states (`load-server-state-from-file global`). Written atomically
 * (temp + rename): a half-written file would be worse than none. Errors reach
 * the caller, who should not reload without it (or rely on the reconcile loop).
 */
export async function saveServerState(runtime: Pick<HaproxyRuntime, 'send'>, path: string): Promise<number> {
  const text = await runtime.send('show servers state');
  if (!text.startsWith('1\n')) throw new Error(`show servers state answered unexpectedly: ${JSON.stringify(text.slice(0, 100))}`);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
  return text.split('\n').filter((l) => l && !l.startsWith('#') && l !== '1').length;
}

import { renameSync, writeFileSync } from 'node:fs';
import type { HaproxyRuntime } from '../../agent/src/haproxy/runtime-api';

/**
 * What whoever reloads HAProxy does first (docs/operations.md "Reloading
 * HAProxy"): write `show servers state` to the config's `server-state-file`, so
 * the new process starts with the runtime weights and admin states
 * (`load-server-state-from-file global`). HAProxy never writes that file itself
 * (doc/configuration.txt, "server-state-file": "Before reloading HAProxy, it is
 * possible to save the servers' current state using the stats command "show
 * servers state". The output of this command must be written in the file
 * pointed by <file>"). Written whole then renamed: a half-written file would be
 * worse than none.
 */
export async function saveServerState(runtime: Pick<HaproxyRuntime, 'send'>, path: string): Promise<number> {
  const text = await runtime.send('show servers state');
  if (!text.startsWith('1\n')) throw new Error(`show servers state answered unexpectedly: ${JSON.stringify(text.slice(0, 100))}`);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
  return text.split('\n').filter((l) => l && !l.startsWith('#') && l !== '1').length;
}

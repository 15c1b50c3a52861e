import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const handle = globalThis.__EMBEDDED_PG__;
  if (!handle) return;
  await handle.stop();
  rmSync(handle.dataDir, { recursive: true, force: true });
}

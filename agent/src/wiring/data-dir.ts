import { prepareDataDir } from '../config/data-dir';
import { lockDataDir } from '../config/data-dir-lock';
import type { SidecarConfig } from '../config/sidecar-config';
import { StartupError, type Running } from './context';

/** Creates SIDECAR_DATA_DIR and locks it; stopping releases the lock. */
export function claimDataDir(config: SidecarConfig): Running {
  try {
    prepareDataDir(config.dataDir);
    // Before anything in the directory is touched: a second instance there stops here, naming the first.
    const lock = lockDataDir(config.dataDir, { instanceId: config.instanceId, listen: `${config.listen.host}:${config.listen.port}` });
    return { stop: async () => lock.release() };
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
}

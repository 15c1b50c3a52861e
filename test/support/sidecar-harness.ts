import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../agent/src/config/sidecar-config';
import { freePort } from '../../agent/src/store/embedded-postgres';
import { createLogger } from '../../agent/src/log';
import { startSidecar, type SidecarHandle } from '../../agent/src/sidecar';
import { writeTokensFile, type TokenSpec } from './sidecar-process';
import { TEST_CONTROLLER_ENV } from './controller-files';

/**
 * In-process sidecars for protocol and HTTP tests (startTestSidecar), and a
 * bare haproxy for readiness facts. A sidecar as a real process (the built
 * binary) comes from sidecar-process.ts.
 */

export type TestToken = TokenSpec;

/** A temp dir the embedded PostgreSQL's `postgres` user can traverse (mkdtemp makes 0700). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o711);
  return d;
}

export const uniqueId = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

export interface InProcessSidecar {
  handle: SidecarHandle;
  secrets: Record<string, string>;
  dir: string;
  stop(): Promise<void>;
}

export async function startTestSidecar(opts: { databaseUrl: string; tokens: TestToken[]; env?: Record<string, string> }): Promise<InProcessSidecar> {
  const dir = tempDir('jsm-sidecar-');
  const path = join(dir, 'tokens.yaml');
  const secrets = writeTokensFile(path, opts.tokens);
  const env = {
    SIDECAR_DATABASE_URL: opts.databaseUrl,
    SIDECAR_LISTEN: '127.0.0.1:0',
    SIDECAR_DATA_DIR: join(dir, 'data'),
    SIDECAR_TOKENS_FILE: path,
    SIDECAR_INSTANCE_ID: uniqueId('itest'),
    SIDECAR_SHUTDOWN_GRACE_SEC: '5',
    ...TEST_CONTROLLER_ENV,
    ...opts.env,
  };
  const { config, errors } = resolveConfig(env, { hostname: hostname(), homeDir: dir, isRoot: process.getuid?.() === 0, cwd: dir });
  if (!config) throw new Error(errors.join('; '));
  const log = createLogger({ level: 'error', instanceId: config.instanceId, silent: true });
  const handle = await startSidecar({ config, log });
  return {
    handle,
    secrets,
    dir,
    async stop() {
      await handle.stop('test over');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A real haproxy with only a Runtime API socket and an idle frontend: enough for readiness and health facts. */
export async function startBareHaproxy(): Promise<{ socketPath: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'jsm-bare-haproxy-'));
  const socketPath = join(dir, 'admin.sock');
  const port = await freePort();
  const cfg = [
    'global',
    `  stats socket ${socketPath} mode 600 level admin`,
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 5s',
    '  timeout server 5s',
    'frontend idle',
    `  bind 127.0.0.1:${port}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'haproxy.cfg'), cfg);
  const child = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 10_000;
  while (!existsSync(socketPath)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not create ${socketPath}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socketPath,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { spawn } from 'node:child_process';
import { prefixed } from './terminal';

/**
 * One `sidecarctl call` with the built binary, as an operator would type it:
 * progress lines (stderr) go to the terminal prefixed, the JSON result (stdout)
 * is returned. Exit codes as documented: 3 = the sidecar returned an error.
 */
export interface SidecarctlTarget {
  bin: string;
  rpcUrl: string;
  token: string;
}

export class SidecarctlFailure extends Error {
  override readonly name = 'SidecarctlFailure';
  constructor(
    readonly method: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(`sidecarctl call ${method} exited ${exitCode}: ${output.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

export async function sidecarctlCall<T>(target: SidecarctlTarget, method: string, params: Record<string, unknown>, timeoutMs = 120_000): Promise<T> {
  const child = spawn(process.execPath, [target.bin, 'call', method, '--params', JSON.stringify(params)], {
    env: { ...process.env, SIDECAR_URL: target.rpcUrl, SIDECAR_TOKEN: target.token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const show = prefixed(`    sidecarctl ${method}: `);
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    show(b);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  if (code !== 0) throw new SidecarctlFailure(method, code, stderr || stdout);
  return JSON.parse(stdout) as T;
}

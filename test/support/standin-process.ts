import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { standinFixtureDir } from './standin-image';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The stand-in Jenkins run as a plain process on 127.0.0.1 (no container): a
 * controller for tests that need Jenkins' sessions and crumbs behind a real
 * haproxy without Docker. Its JENKINS_HOME is a temp dir removed by close().
 */
export interface StandinProcess {
  port: number;
  name: string;
  /** Its JENKINS_HOME. */
  home: string;
  /** POST /_standin/control with this JSON body. */
  control(body: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

/** `opts.home`: start on that JENKINS_HOME (a restart) and leave it in place at close(). */
export async function startStandinProcess(port: number, opts: { team: string; environment: string; home?: string }): Promise<StandinProcess> {
  const home = opts.home ?? mkdtempSync(join(tmpdir(), 'jsm-standin-proc-'));
  const base = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [join(standinFixtureDir(), 'server.js')], {
    env: {
      JENKINS_HOME: home,
      JENKINS_OPTS: `--httpPort=${port}`,
      STANDIN_LISTEN_HOST: '127.0.0.1',
      STANDIN_REF_DIR: join(standinFixtureDir(), 'ref'),
      JENKINS_TEAM: opts.team,
      JENKINS_ENVIRONMENT: opts.environment,
    },
    stdio: 'ignore',
  });
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (!opts.home) rmSync(home, { recursive: true, force: true });
  };
  try {
    for (let i = 0; ; i += 1) {
      const ok = await fetch(`${base}/login`).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (child.exitCode !== null || i >= 100) throw new Error(`stand-in ${opts.team}/${opts.environment} did not answer on ${base}/login`);
      await sleep(100);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    port,
    name: opts.environment,
    home,
    async control(body) {
      const r = await fetch(`${base}/_standin/control`, { method: 'POST', body: JSON.stringify(body) });
      if (r.status !== 200) throw new Error(`stand-in control answered ${r.status}`);
    },
    close,
  };
}

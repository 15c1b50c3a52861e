import type Docker from 'dockerode';
import type { JenkinsClientFactory } from '../../agent/src/environments/controllers';
import { deployEnvironment } from '../../agent/src/environments/deploy';
import { OperationRunner } from '../../agent/src/operations/runner';
import { createPgStore, type PgStore } from '../../agent/src/store';
import { createTestDatabase, type TestDatabase } from './database';
import { makeTestTeam, seedServiceUser, type TestTeam } from './docker-teams';
import { startHaproxy, type HaproxyProcess } from './haproxy-process';
import { ensureStandinImage } from './standin-image';

/** A team's two stand-in controllers, its own database, store and runner, and haproxy with the generated config. */
export interface SwitchFixture {
  db: TestDatabase;
  store: PgStore;
  runner: OperationRunner;
  t: TestTeam;
  hap: HaproxyProcess;
  /** The team's entry for TrafficDeps.teamConfig. */
  teamConfig: (name: string) => TestTeam['team'] | undefined;
  /** Newest first; also after a partial start. */
  stop(): Promise<void>;
}

/**
 * Blue and green deployed on the real Docker engine (host networking), each with the sidecar's
 * service user and the job `seedJob` names, then haproxy in front: what a switch test starts from.
 */
export async function startSwitchFixture(docker: Docker, jenkinsFor: JenkinsClientFactory, opts: { name: string; prefix: string; instanceId: string; seedJob?: { name: string; xml: string } }): Promise<SwitchFixture> {
  const parts: Partial<SwitchFixture> = {};
  const stop = async (): Promise<void> => {
    await parts.runner?.drain(5000);
    await parts.hap?.stop();
    await parts.t?.cleanup(docker);
    await parts.store?.close();
    await parts.db?.drop();
  };
  try {
    await ensureStandinImage(docker);
    parts.db = await createTestDatabase(opts.name);
    const store = (parts.store = await createPgStore({ connectionString: parts.db.url, instanceId: opts.instanceId }));
    parts.runner = new OperationRunner({ journal: store.journal, clock: { now: () => new Date() } });
    const t = (parts.t = await makeTestTeam({ prefix: opts.prefix }));
    const envDeps = { docker, environments: store.environments, jenkinsFor, networking: { mode: 'host' as const } };
    await Promise.all((['blue', 'green'] as const).map((env) => deployEnvironment(envDeps, t.team, { target: env, timeoutSec: 60, replace: true })));
    for (const env of ['blue', 'green'] as const) {
      await seedServiceUser(t, env);
      if (opts.seedJob) await jenkinsFor(t.team, env).createJob(opts.seedJob.name, opts.seedJob.xml);
    }
    parts.hap = await startHaproxy([t.team], { defaultTeam: t.team.team_name });
    const teamConfig = (name: string): typeof t.team | undefined => (name === t.team.team_name ? t.team : undefined);
    return { ...(parts as Omit<SwitchFixture, 'teamConfig' | 'stop'>), teamConfig, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

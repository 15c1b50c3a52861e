import { peopleTableName } from '../../../../catalog/haproxy-names';
import { ENVIRONMENTS, type EnvironmentName, type Team } from '../../../../catalog/teams-file';
import type { ControllerContainerStatus } from '../../environments/container-status';
import type { JenkinsClientFactory } from '../../environments/controllers';
import { isAdminHeld, type ServerState, type ServerStat } from '../../haproxy/stats';
import { assessActivity } from '../../jenkins/activity';
import { discoverTeamBackends, liveWeights, teamBackendNames, type TeamBackends, type Weights } from '../team-backends';
import type { TrafficDeps } from '../traffic-deps';

/**
 * What each side looks like now, read only: HAProxy (`show servers state`, `show stat`, the people
 * table), Docker (inspect) and the controller's REST API (computers and queue). A part that does not
 * answer is reported with why, never fatal: the plan says what it could not see.
 */
export interface ServerFacts {
  status: string;
  admin: 'ready' | 'maint' | 'drain';
  weight: number;
  sessions: number;
  checkStatus: string;
  peopleAnswers: number | null;
}

export interface JenkinsFacts {
  answered: boolean;
  error: string | null;
  running: string[];
  queued: string[];
  agents: string[];
}

export interface SideFacts {
  server: string;
  haproxy: ServerFacts | null;
  container: { name: string; state: string; health: string | null } | null;
  jenkins: JenkinsFacts | null;
}

export interface HaproxyFacts {
  answered: boolean;
  error: string | null;
  tb: TeamBackends | null;
  live: Weights | null;
}

/** Docker's view of the team's two controllers (environments/container-status.ts), when the sidecar has Docker. */
export type ContainerLookup = (team: Team) => Promise<Record<EnvironmentName, ControllerContainerStatus>>;

export interface SideFactDeps extends Pick<TrafficDeps, 'haproxy' | 'teamConfig' | 'jenkinsFor'> {
  containers?: ContainerLookup;
}

/** The admin state as `set server ... state` names it. */
const adminOf = (s: ServerState | undefined): ServerFacts['admin'] => {
  const held = s ? isAdminHeld(s) : { maint: false, drain: false };
  return held.maint ? 'maint' : held.drain ? 'drain' : 'ready';
};

async function readHaproxy(deps: SideFactDeps, team: string, config: Team | undefined): Promise<{ facts: HaproxyFacts; state: ServerState[]; stats: ServerStat[]; people: Map<string, { requests: number }> | null }> {
  try {
    const { backends: tb, state } = await discoverTeamBackends(deps.haproxy, team, config);
    const stats = await deps.haproxy.showStat();
    // A config rendered before the people table existed has none: the plan goes on without it.
    const people = deps.haproxy.peopleCounters ? await deps.haproxy.peopleCounters(peopleTableName(team)).catch(() => null) : null;
    return { facts: { answered: true, error: null, tb, live: liveWeights(tb, state) }, state, stats, people };
  } catch (err) {
    return { facts: { answered: false, error: (err as Error).message, tb: null, live: null }, state: [], stats: [], people: null };
  }
}

function serverFacts(tb: TeamBackends, env: EnvironmentName, state: ServerState[], stats: ServerStat[], people: Map<string, { requests: number }> | null): ServerFacts | null {
  const server = tb.servers[env];
  const s = stats.find((x) => x.backend === tb.web && x.server === server);
  if (!s) return null;
  // Open sessions as the drain counts them: the server's, over every team backend (drain-old.ts).
  const sessions = stats.filter((x) => x.server === server && tb.backends.includes(x.backend)).reduce((n, x) => n + x.scur, 0);
  const st = state.find((x) => x.backend === tb.web && x.server === server);
  return { status: s.status, admin: adminOf(st), weight: s.weight, sessions, checkStatus: s.checkStatus, peopleAnswers: people ? (people.get(server)?.requests ?? 0) : null };
}

/**
 * Builds running and queued, and inbound agents connected: GET /computer/api/json (every executor and
 * one-off executor: a Pipeline's top-level run holds a one-off one, jenkins-rest-notes.md) and
 * GET /queue/api/json, read as jenkins/activity.ts reads them for a migration.
 */
async function readJenkins(jenkinsFor: JenkinsClientFactory, team: Team, env: EnvironmentName, callerBuild: string | undefined): Promise<JenkinsFacts> {
  try {
    const client = jenkinsFor(team, env);
    const [computers, queue] = await Promise.all([client.computers(), client.queue()]);
    const activity = assessActivity(computers, queue, callerBuild);
    const agents = (computers.computer ?? []).filter((c) => c._class === 'hudson.slaves.SlaveComputer' && !c.offline).map((c) => c.displayName);
    return { answered: true, error: null, running: activity.running, queued: activity.queued, agents };
  } catch (err) {
    return { answered: false, error: (err as Error).message, running: [], queued: [], agents: [] };
  }
}

export async function readSideFacts(deps: SideFactDeps, team: string, callerBuild: string | undefined): Promise<{ haproxy: HaproxyFacts; sides: Record<EnvironmentName, SideFacts> }> {
  const config = deps.teamConfig(team);
  const { jenkinsFor, containers } = deps;
  const [hap, docker, jenkins] = await Promise.all([
    readHaproxy(deps, team, config),
    containers && config ? containers(config).catch(() => null) : Promise.resolve(null),
    Promise.all(ENVIRONMENTS.map((env) => (jenkinsFor && config ? readJenkins(jenkinsFor, config, env, callerBuild) : Promise.resolve(null)))),
  ]);
  const side = (env: EnvironmentName, i: number): SideFacts => {
    const tb = hap.facts.tb;
    const c = docker?.[env];
    return {
      server: tb?.servers[env] ?? teamBackendNames(team, config).servers[env],
      haproxy: tb ? serverFacts(tb, env, hap.state, hap.stats, hap.people) : null,
      container: c ? { name: c.container, state: c.state, health: c.health } : null,
      jenkins: jenkins[i] ?? null,
    };
  };
  return { haproxy: hap.facts, sides: { blue: side('blue', 0), green: side('green', 1) } };
}

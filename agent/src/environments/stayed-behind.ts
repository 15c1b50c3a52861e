import type Docker from 'dockerode';
import { coordinationNodeName } from '../../../catalog/coordination-node';
import type { EnvironmentName, Team } from '../../../catalog/teams-file';
import { selectForMigration } from '../jenkins/home-layout';
import type { OperationContext } from '../store/contract';
import { stayedBehind, type ListedEntry, type StayedBehind } from './home-delta';
import { listHome } from './migrate';

/**
 * What a target did while it had traffic that then went back to the other
 * side: builds that ran on it for the people the switch sent there, a job or
 * global configuration saved there. Its home is listed (size and mtime) when
 * the watch starts and again when asked, and the difference reported.
 *
 * Reported, not carried back: after a migration the target numbers its builds
 * from the source's nextBuildNumber (core Job.onLoad reads it from disk), so
 * a build that ran there has the number the source gives its next build; and
 * a config saved there may contradict one saved on the source meanwhile.
 * Someone who knows the jobs decides; nothing vanishes silently.
 */
export interface TargetWatch {
  /** The difference since the watch began (null: the home could not be listed then or now, with why). */
  report(ctx?: OperationContext): Promise<StayedBehindReport>;
}

export type StayedBehindReport = (StayedBehind & { listed: true }) | { listed: false; error: string };

export interface StayedBehindWatcher {
  /** Resolves once the target's home is listed: anything it does from then on is reported. */
  watch(team: string, target: EnvironmentName): Promise<TargetWatch>;
}

/** What counts: everything a migration of either kind would carry (global config and plugin files too), builds included. */
const selectionFor = (team: Team): ReturnType<typeof selectForMigration> =>
  selectForMigration({ includeBuilds: true, includeWorkspaces: false, imageOwned: false, ownNodes: [coordinationNodeName(team)] });

/** Pure: one line for the Jenkins console and the operation's progress. */
export function describeStayedBehind(label: string, r: StayedBehindReport): string {
  if (!r.listed) return `could not list what ${label} did while it had traffic (${r.error}); compare its home with the other side's by hand`;
  if (!r.changed.length && !r.removed.length) return `${label} changed nothing while it had traffic: nothing stayed behind`;
  const builds = r.builds.length ? `builds ${r.builds.slice(0, 10).join(', ')}${r.builds.length > 10 ? ', …' : ''}; ` : '';
  const shown = r.changed.slice(0, 5).join(', ');
  return `stayed behind on ${label} (not carried back: its build numbers would collide with the other side's next builds): ${builds}${r.changed.length} new or changed (${shown}${r.changed.length > 5 ? ', …' : ''}), ${r.removed.length} removed`;
}

export function dockerStayedBehindWatcher(docker: Docker, teamConfig: (team: string) => Team | undefined): StayedBehindWatcher {
  return {
    async watch(teamName, target) {
      const team = teamConfig(teamName);
      if (!team) return unlisted(`team ${teamName} is not in the teams file`);
      const container = team.environments[target].container;
      const select = selectionFor(team);
      const list = (): Promise<ListedEntry[]> => listHome(docker, { id: container, name: container }, select);
      let baseline: ListedEntry[];
      const listedAtSec = Math.floor(Date.now() / 1000);
      try {
        baseline = await list();
      } catch (err) {
        return unlisted(`listing ${container} at the start failed: ${(err as Error).message}`);
      }
      return {
        async report(ctx) {
          const r: StayedBehindReport = await list().then(
            (now) => ({ listed: true as const, ...stayedBehind(baseline, now, listedAtSec) }),
            (err: unknown) => ({ listed: false as const, error: `listing ${container} failed: ${(err as Error).message}` }),
          );
          ctx?.progress({ phase: 'stayed_behind', message: describeStayedBehind(`${teamName}/${target}`, r), ...r });
          return r;
        },
      };
    },
  };
}

function unlisted(error: string): TargetWatch {
  return {
    async report(ctx) {
      const r: StayedBehindReport = { listed: false, error };
      ctx?.progress({ phase: 'stayed_behind', message: describeStayedBehind('the target', r), ...r });
      return r;
    },
  };
}

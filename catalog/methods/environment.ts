import { z } from 'zod';
import { detailsParam } from './details-param';
import { BUILD_PATTERN, environmentParam, teamParam } from './core';
import { defineMethod, type MethodSpec } from './method-spec';
import { environmentName, isoTime } from './result-shapes';
import { plainIncrements, trafficSwitchParams } from './traffic';

/**
 * RPC methods of the environment area (docs/rpc-contract.md): deploying and
 * stopping a side, migrating configuration state, the six validation checks
 * and configuration-state backups. Implemented in agent/src/environments and
 * agent/src/backup; handlers in agent/src/rpc/methods/environment.ts.
 */

/** The six validation checks (Pipeline A, "State Migration & Validation"). */
export const VALIDATION_CHECK_NAMES = ['container_health', 'api_responsiveness', 'job_restoration', 'plugin_compatibility', 'user_access', 'agent_connectivity'] as const;

/** Same rule as the teams file's `image`. */
const imageParam = z.string().min(1).max(255).regex(/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/, 'expected a Docker image reference such as jenkins-custom-devops:2.452');
/** As backup.create names them: <env>-<UTC stamp>-<6 hex>. */
export const BACKUP_ID_PARAM = z.string().regex(/^(blue|green)-\d{8}T\d{6}Z-[a-f0-9]{6}$/, 'expected a backup id such as blue-20250101T120000Z-a1b2c3 (see backup.list)');
const agentName = z.string().min(1).max(100).regex(/^[^\p{Cc}]+$/u, 'expected a node name');

export const environmentDeployParams = z
  .object({
    team: teamParam,
    target: environmentParam,
    image: imageParam.optional(),
    timeoutSec: z.number().int().min(1).max(3_600).default(300),
    replace: z.boolean().default(true),
    graceSec: z.number().int().min(0).max(600).default(30),
  })
  .strict();

export const environmentStopParams = z
  .object({ team: teamParam, environment: environmentParam, graceSec: z.number().int().min(0).max(600).default(30), remove: z.boolean().default(false) })
  .strict();

export const environmentValidateParams = z
  .object({
    team: teamParam,
    environment: environmentParam,
    checks: z.array(z.enum(VALIDATION_CHECK_NAMES)).min(1).max(6).default([...VALIDATION_CHECK_NAMES]),
    source: environmentParam.optional(),
    apiThresholdMs: z.number().int().min(1).max(60_000).default(2_000),
    requiredAgents: z.array(agentName).max(100).optional(),
  })
  .strict();

export const COORDINATED_OPERATIONS = ['version_upgrade', 'plugin_update', 'configuration_change'] as const;
/** What brought the target to its image: a plain switch (one image on both sides) or one of the coordinated operations. */
export const MIGRATION_OPERATIONS = ['switch', ...COORDINATED_OPERATIONS] as const;
export type MigrationOperation = (typeof MIGRATION_OPERATIONS)[number];

export const stateMigrateParams = z
  .object({
    team: teamParam,
    source: environmentParam,
    target: environmentParam,
    timeoutSec: z.number().int().min(1).max(7_200).default(600),
    callerBuild: z.string().regex(BUILD_PATTERN, 'expected <JOB_NAME>#<BUILD_NUMBER>').optional(),
    includeBuilds: z.boolean().default(true),
    includeWorkspaces: z.boolean().default(false),
    operation: z.enum(MIGRATION_OPERATIONS).default('switch'),
  })
  .strict()
  .refine((p) => p.source !== p.target, { message: 'source and target must be different environments', path: ['target'] });

export const environmentQuietDownParams = z
  .object({
    team: teamParam,
    environment: environmentParam,
    /** true lifts the quiet-down; false puts the controller into it. */
    cancel: z.boolean(),
    reason: z.string().min(1).max(200).regex(/^[^\p{Cc}]+$/u, 'expected printable text').optional(),
  })
  .strict();

export const backupCreateParams = z.object({ team: teamParam, environment: environmentParam.optional() }).strict();
export const backupListParams = z.object({ team: teamParam }).strict();
export const backupRestoreParams = z.object({ team: teamParam, backupId: BACKUP_ID_PARAM, environment: environmentParam }).strict();

export const coordinationExecuteParams = z
  .object({
    team: teamParam.optional(),
    scope: z.enum(['team', 'all']).default('team'),
    operation: z.enum(COORDINATED_OPERATIONS),
    details: detailsParam.default({}),
    /** The image to roll out (else details.image, else the team's image rebuilt under its tag). */
    image: imageParam.optional(),
    /** false: stop after deploy, migrate and validate of the idle side (traffic stays). */
    switchTraffic: z.boolean().default(true),
    timeoutSec: z.number().int().min(1).max(7_200).default(600),
    validationSec: z.number().int().min(1).max(3_600).default(60),
    /** Passed to each team's traffic.switch (its defaults when absent), validated by the same rules. */
    increments: plainIncrements.optional(),
    triggers: trafficSwitchParams.shape.triggers.unwrap().optional(),
    minSamples: trafficSwitchParams.shape.minSamples.unwrap().optional(),
  })
  .strict()
  .refine((p) => p.scope === 'all' || p.team !== undefined, { message: "team is required unless scope is 'all'", path: ['team'] });

const count = z.number().int().min(0);
const seconds = z.number().min(0);

export const environmentDeploy = defineMethod({
  name: 'environment.deploy',
  summary: "Start or replace one environment's container from the team's image and wait until it is healthy; CONFLICT for the side that carries traffic.",
  params: environmentDeployParams,
  result: z.object({
    container: z.string().describe('container name, jenkins-<team>-<env>'),
    environment: environmentName,
    healthy: z.boolean().describe('true (a deploy that does not become healthy is a TIMEOUT error)'),
    ports: z.object({ web: z.number().int(), agent: z.number().int() }).describe('{web, agent}: the ports on the host (green = blue + 100)'),
    image: z.string().describe('the image the container runs'),
    volume: z.string().describe('its jenkins_home volume, jenkins-<team>-<env>-home'),
    replaced: z.boolean().describe('whether an existing container was replaced'),
    healthyAfterMs: z.number().min(0).describe('time from start to healthy'),
  }),
  mutating: true,
  scope: 'team',
  long: true,
});

export const environmentStop = defineMethod({
  name: 'environment.stop',
  summary: 'Stop one environment gracefully (SIGTERM, then SIGKILL after graceSec); CONFLICT for the side that carries traffic. The volume is kept.',
  params: environmentStopParams,
  result: z.object({
    stopped: z.boolean().describe('false when it was not running'),
    removed: z.boolean().describe('whether the container was removed'),
    container: z.string().describe('container name'),
  }),
  mutating: true,
  scope: 'team',
  long: true,
});

export const environmentValidate = defineMethod({
  name: 'environment.validate',
  summary: "Run the six validation checks (or some) against one environment; a failed check is a result (passed:false), not an error.",
  params: environmentValidateParams,
  result: z.object({
    passed: z.boolean().describe('true when every check passed'),
    environment: environmentName.describe('the environment checked'),
    source: environmentName.nullable().describe('the environment compared against (job_restoration, plugin_compatibility), or null'),
    checks: z.array(
      z.object({
        name: z.enum(VALIDATION_CHECK_NAMES),
        passed: z.boolean(),
        figure: z.union([z.string(), z.number()]).nullable().describe('what was measured'),
        reason: z.string().describe('why it passed or failed'),
      }),
    ),
  }),
  mutating: false,
  scope: 'team',
  long: false,
});

export const stateMigrate = defineMethod({
  name: 'state.migrate',
  summary:
    "Copy what the source's home owns (jobs with their history, users, secrets, nodes, credentials) into the target volume while the source still builds, then quiet it down, drain it (callerBuild excepted), copy only what changed since, reload the target (restart it when the copy changed its key files) and verify it. Unless operation is a switch between sides of one image, the target keeps its image's plugins and global configuration.",
  params: stateMigrateParams,
  result: z.object({
    jobs: count.describe('items (jobs and folders) of the source, all present on the target'),
    jobNames: z.array(z.string()).describe('their full names'),
    files: count.describe('files copied'),
    bytes: count.describe('bytes copied'),
    waitedSec: seconds.describe('time spent waiting for the source to go idle'),
    copied: z.boolean().describe('false when both sides share one volume (nothing to copy)'),
    sourceQuietingDown: z.boolean().describe('true: the source stays quieting down after success (traffic is leaving it)'),
    operation: z.enum(MIGRATION_OPERATIONS).describe('switch, version_upgrade, plugin_update or configuration_change, as asked'),
    imageOwned: z.boolean().describe("true: the target kept its image's plugins and global configuration (every operation but a switch within one image)"),
    leftToImage: z.array(z.string()).describe('top-level entries of the source not copied because the target image owns them (config.xml, plugins, ...)'),
    includeBuilds: z.boolean().describe('whether build history was copied (default true)'),
    precopy: z.object({ files: count, bytes: count, sec: seconds }).describe('{files, bytes, sec}: the first pass, copied while the source still built'),
    delta: z
      .object({ files: count, bytes: count, removed: count, sec: seconds })
      .describe('{files, bytes, removed, sec}: what changed since, copied with the source quiet and idle (removed: entries it no longer has, deleted from the target)'),
    windowSec: seconds.describe('how long the source could not start builds: quiet-down → target reloaded (drain, delta, reload)'),
    reloaded: z.boolean().describe('false when the target already held every byte copied: it was not reloaded (no 503s on a side that serves), or when it was restarted instead'),
    restart: z
      .object({ restarted: z.boolean(), reason: z.string().nullable(), secrets: z.array(z.string()), sec: seconds })
      .describe('{restarted, reason, secrets, sec}: restarted true when the copy changed key files (secrets/, secret.key), which Jenkins reads only at start; refused (CONFLICT) on a target that carries traffic'),
    triggers: z
      .object({ from: environmentName, to: environmentName, route: z.unknown(), handed: z.array(z.unknown()), left: z.array(z.unknown()) })
      .nullable()
      .optional()
      .describe('where webhooks and token triggers went, and the queued builds handed from the quieted source to the target ({from, to, route, handed[], left[]}; null: no trigger handover configured)'),
  }),
  mutating: true,
  scope: 'team',
  long: true,
});

export const environmentQuietDown = defineMethod({
  name: 'environment.quietDown',
  summary:
    "Put one environment's controller into quiet-down (cancel:false) or lift it (cancel:true), e.g. the source a state.migrate left quiet when the switch that followed rolled back. Lifting it on a controller that is not running is a no-op.",
  params: environmentQuietDownParams,
  result: z.object({
    environment: environmentName,
    container: z.string().describe('container name, jenkins-<team>-<env>'),
    running: z.boolean().describe('false when the container is not running (cancel only: nothing to lift)'),
    quietingDown: z.boolean().describe('what Jenkins reports after the call'),
    changed: z.boolean().describe('false when it already was in the asked state'),
  }),
  mutating: true,
  scope: 'team',
  long: false,
});

const backupSummary = z.object({
  backupId: z.string().describe('id for backup.restore'),
  team: z.string(),
  environment: environmentName.describe('the environment archived'),
  createdAt: isoTime,
  path: z.string().describe('directory on the sidecar host'),
  files: count.describe('files archived'),
  bytes: count.describe('bytes of those files'),
  archiveBytes: count.describe('size of the archive'),
});

export const backupCreate = defineMethod({
  name: 'backup.create',
  summary: "Archive an environment's configuration state (jenkins_home without workspaces and caches) with a sha256 manifest.",
  params: backupCreateParams,
  result: backupSummary.extend({
    archiveSha256: z.string().regex(/^[a-f0-9]{64}$/).describe("the archive's sha256").meta({ examples: ['0'.repeat(64)] }),
    expired: z.array(z.string()).describe('backups the retention policy removed after this one'),
  }),
  mutating: true,
  scope: 'team',
  long: true,
});

export const backupList = defineMethod({
  name: 'backup.list',
  summary: "The team's backups on this sidecar's host, newest first.",
  params: backupListParams,
  result: z.object({ backups: z.array(backupSummary) }),
  mutating: false,
  scope: 'team',
  long: false,
});

export const backupRestore = defineMethod({
  name: 'backup.restore',
  summary: "Verify a backup against its manifest and write it into an environment's volume (not the side that carries traffic); a running controller is reloaded.",
  params: backupRestoreParams,
  result: z.object({
    restored: z.literal(true),
    backupId: z.string(),
    environment: environmentName.describe('where it went'),
    files: count.describe('files restored'),
    reloaded: z.boolean().describe('whether a running controller was reloaded'),
    volume: z.string().describe('the volume written'),
  }),
  mutating: true,
  scope: 'team',
  long: true,
});

const teamOutcome = z.object({
  team: z.string(),
  status: z.enum(['succeeded', 'failed', 'skipped']),
  from: z.string().optional(),
  to: z.string().optional(),
  image: z.string().optional(),
  jobs: count.optional(),
  validated: z.boolean().optional(),
  switched: z.boolean().optional(),
  stayedBehind: z
    .object({ changed: z.array(z.string()), removed: z.array(z.string()), files: count, bytes: count })
    .optional()
    .describe('after a failure past the migration: what the new side did meanwhile and keeps'),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export const coordinationExecute = defineMethod({
  name: 'coordination.execute',
  summary: "Roll an infrastructure operation out team by team (Pipeline B): deploy the idle side from the image, migrate, validate, then traffic.switch; the first failing team stops the rollout. scope 'all' needs an ops token.",
  params: coordinationExecuteParams,
  result: z.object({
    operation: z.string().describe('the operation'),
    status: z.literal('succeeded').describe('a failure is an error whose data.outcomes lists every team'),
    outcomes: z.array(teamOutcome).describe('one per team, in rollout order'),
  }),
  mutating: true,
  scope: 'team',
  long: true,
});

export const ENVIRONMENT_METHODS: MethodSpec[] = [
  environmentDeploy,
  environmentStop,
  environmentValidate,
  stateMigrate,
  environmentQuietDown,
  backupCreate,
  backupList,
  backupRestore,
  coordinationExecute,
];

#!/usr/bin/env node
/**
 * `npm run demo [-- --exit] [-- --team NAME]`: the whole product on loopback.
 * scripts/demo.mjs has already checked the machine (apt packages, dockerd, npm
 * deps) and built the project; this is the entry point that touches the process
 * (signals, exit code). Phases: stand-in image → teams file → library-gen build →
 * haproxy → jenkins-sidecar (embedded PostgreSQL) → blue/green controllers →
 * load → the generated switch pipeline to green in the Groovy harness (deploy,
 * migrate into the idle side and validate it, THEN switch: the migration's reload
 * hits a side without traffic) → the same pipeline back to blue with an injected
 * fault (SLI_BREACH, rollback, the source's quiet-down lifted) → dashboard.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Docker from 'dockerode';
import { parseTeamsDocument, TEAM_NAME_PATTERN, type EnvironmentName, type Team } from '../catalog/teams-file';
import { firstUnsearchableDir, freePort } from '../agent/src/store/embedded-postgres';
import { ensureStandinImage } from '../test/support/standin-image';
import { freeBlueGreenPort, removeTeamObjects, standinControl } from '../test/support/docker-teams';
import { writeControllerFiles } from '../test/support/controller-files';
import { startDemoHaproxy, type DemoHaproxy } from './haproxy-launcher';
import { startLoopbackLoad, type LoadCounts, type LoopbackLoad } from './loopback-load';
import { watchOperations, type OperationWatch, type WatchedOperation } from './operation-watch';
import { compileHarness, runPipeline, type PipelineOutcome } from './pipeline-harness';
import { startDemoSidecar, type DemoSidecar } from './sidecar-launcher';
import { sidecarctlCall, type SidecarctlTarget } from './sidecarctl-call';
import { demoJenkinsfile, DEMO_MIN_SAMPLES, DEMO_VALIDATION_SEC } from './switch-jenkinsfile';
import { recordPids, sweepStaleRuns } from './stale-runs';
import { detail, outcome, phase } from './terminal';

const USAGE = 'usage: npm run demo [-- --exit] [-- --team NAME]';
const SWITCH_JOB = 'Infrastructure/Self-Managed-Blue-Green-Switch';
const LOAD_PER_SECOND = 20;
const SERVICE_USER = 'sidecar';
const DEMO_JOBS = ['nightly-build', 'release-train'];

interface Options {
  exit: boolean;
  team: string;
}

function parseArgs(argv: string[]): Options | string {
  const o: Options = { exit: false, team: 'devops' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--exit') o.exit = true;
    else if (a === '--team' && argv[i + 1] !== undefined) o.team = argv[++i]!;
    else if (a.startsWith('--team=')) o.team = a.slice('--team='.length);
    else if (a === '--help' || a === '-h') return USAGE;
    else return `unexpected argument '${a}'; ${USAGE}`;
  }
  if (!TEAM_NAME_PATTERN.test(o.team)) return `--team: expected lower-case letters, digits, - or _ (max 40), starting with a letter, got '${o.team}'`;
  return o;
}

function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'agent'))) return dir;
    dir = dirname(dir);
  }
  return resolve(__dirname, '..', '..');
}

/** As root the embedded PostgreSQL runs as `postgres`, which must traverse every directory above its data. */
function makeTraversable(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (process.getuid?.() !== 0) return;
  for (let d = dir; d !== dirname(d); d = dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) chmodSync(d, (mode & 0o7777) | 0o011);
    if (existsSync(join(d, 'package.json'))) break; // stop at the checkout; above it is the user's business (the sidecar says so if it matters)
  }
}

/**
 * The sidecar's data dir (its embedded PostgreSQL lives there). As root the
 * server runs as `postgres`, which cannot enter a checkout below a private
 * directory (CI clones where it likes): then use /var/tmp instead of the run dir.
 */
function sidecarDataDir(runDir: string, runId: string): string {
  const inRun = join(runDir, 'sidecar');
  if (process.getuid?.() !== 0 || firstUnsearchableDir(runDir) === null) return inRun;
  const outside = join('/var/tmp', 'jsm-demo', runId, 'sidecar');
  mkdirSync(outside, { recursive: true, mode: 0o755 });
  for (const d of [join('/var/tmp', 'jsm-demo'), join('/var/tmp', 'jsm-demo', runId)]) chmodSync(d, 0o755);
  return outside;
}

/** Everything the demo started, stopped in reverse order; idempotent. */
class Teardown {
  private readonly steps: Array<{ what: string; fn: () => Promise<void> }> = [];
  private done: Promise<void> | null = null;
  add(what: string, fn: () => Promise<void>): void {
    this.steps.push({ what, fn });
  }
  run(): Promise<void> {
    this.done ??= (async () => {
      for (const s of this.steps.reverse()) {
        detail(`stopping ${s.what}`);
        await s.fn().catch((err: Error) => detail(`  (${s.what}: ${err.message})`));
      }
    })();
    return this.done;
  }
}

class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

async function main(): Promise<number> {
  const parsed = parseArgs(process.argv.slice(2));
  if (typeof parsed === 'string') {
    process.stderr.write(`${parsed}\n`);
    return parsed === USAGE ? 0 : 2;
  }
  const opts = parsed;
  const root = repoRoot();
  const bin = {
    sidecar: join(root, 'build', 'agent', 'src', 'bin', 'jenkins-sidecar.js'),
    sidecarctl: join(root, 'build', 'agent', 'src', 'bin', 'sidecarctl.js'),
    libraryGen: join(root, 'build', 'library-gen', 'src', 'bin', 'library-gen.js'),
  };
  for (const b of Object.values(bin)) if (!existsSync(b)) throw new Error(`${b} is missing: run \`npm run build\` (npm run demo does it first)`);

  const teardown = new Teardown();
  let interrupted = false;
  // Set once the demo has run and only the dashboard is left: Ctrl-C is then the normal way out (exit 0).
  let waiting = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    phase(`${sig}: stopping everything the demo started (its containers, haproxy, the sidecar and its PostgreSQL)`);
    void teardown.run().then(() => {
      detail('stopped; nothing of the demo is left running');
      process.exit(waiting ? 0 : 130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const checkpoint = (): void => {
    if (interrupted) throw new Interrupted('interrupted');
  };

  const runId = `run-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(2).toString('hex')}`;
  const runDir = join(root, '.tmp', 'demo', runId);
  makeTraversable(runDir);
  const team = opts.team;
  let switchOk = false;
  let rollbackOk = false;
  let keepRunDir = false;
  // Runs last: the data dir goes unless something failed (then its logs are the evidence).
  teardown.add(`the demo data dir ${runDir} (kept when the demo failed)`, async () => {
    if (!keepRunDir) rmSync(runDir, { recursive: true, force: true });
  });
  // Runs once haproxy, the sidecar and the containers are gone: a kept (failed) run then looks finished to the next demo's sweep.
  teardown.add('the record of its process ids', async () => rmSync(join(runDir, 'pids.json'), { force: true }));

  try {
    // ---------------------------------------------------------------- Docker
    phase('Docker engine and the stand-in Jenkins image (Jenkins itself cannot be installed here)');
    const docker = new Docker();
    await docker.ping();
    for (const line of await sweepStaleRuns(join(root, '.tmp', 'demo'), docker)) detail(`cleaned up after an earlier demo that was killed: ${line}`);
    const images = await ensureStandinImage(docker);
    detail(`images ${images.v1} (reports Jenkins 2.440.1) and ${images.v2} (2.452.2) are built from test/fixtures/standin-jenkins`);
    for (const env of ['blue', 'green'] as const) {
      const name = `jenkins-${team}-${env}`;
      const found = await docker.listContainers({ all: true, filters: JSON.stringify({ name: [`^/${name}$`] }) });
      if (found.length) {
        throw new Error(`a container named ${name} already exists (another demo running, or a leftover). Remove it with \`docker rm -f ${name}\` or pick another team: npm run demo -- --team other`);
      }
    }
    teardown.add(`team ${team}'s containers and volumes (only those carrying the sidecar's labels for ${team})`, () => removeTeamObjects(docker, team));
    checkpoint();

    // ---------------------------------------------------------------- teams file
    phase(`Teams file for team ${team} on free loopback ports (demo data in ${runDir})`);
    const webPort = await freeBlueGreenPort();
    const agentPort = await freeBlueGreenPort();
    const serviceToken = randomBytes(16).toString('hex');
    const serviceTokenFile = join(runDir, 'jenkins-service-token');
    writeFileSync(serviceTokenFile, `${serviceToken}\n`, { mode: 0o600 });
    const teamsYaml = [
      'jenkins_teams:',
      `  - team_name: ${team}`,
      '    active_environment: blue',
      '    blue_green_enabled: true',
      '    self_management_enabled: true',
      '    coordination_role: coordinator',
      // The pipeline's deploy stage installs the team's image: green comes up on the newer stand-in (an upgrade).
      `    image: ${images.v2}`,
      `    web_port: ${webPort}`,
      `    agent_port: ${agentPort}`,
      `    jenkins_user: ${SERVICE_USER}`,
      `    jenkins_token_file: ${serviceTokenFile}`,
      '',
    ].join('\n');
    const teamsFile = join(runDir, 'teams.yml');
    writeFileSync(teamsFile, teamsYaml);
    const parsedTeams = parseTeamsDocument(teamsYaml, teamsFile);
    if (parsedTeams.errors.length) throw new Error(parsedTeams.errors.join('; '));
    const teamCfg: Team = parsedTeams.teams[0]!;
    detail(`${teamsFile}: blue on 127.0.0.1:${teamCfg.environments.blue.web_port}, green on 127.0.0.1:${teamCfg.environments.green.web_port}`);

    // ---------------------------------------------------------------- library-gen
    phase('library-gen build: the shared library, Jenkinsfiles, Job DSL and HAProxy config for this teams file');
    const generated = join(runDir, 'generated');
    await runNode(bin.libraryGen, ['build', '--teams', teamsFile, '--out', generated]);
    const switchFile = join(generated, 'pipelines', 'Jenkinsfile.self-managed-switch');
    const demoSwitchFile = join(runDir, 'Jenkinsfile.self-managed-switch.demo');
    writeFileSync(demoSwitchFile, demoJenkinsfile(readFileSync(switchFile, 'utf8')));
    detail(`${generated}/library/vars: the steps; ${switchFile}: the Self-Managed-Blue-Green-Switch pipeline`);
    detail(
      `the demo runs that pipeline with validation_time ${DEMO_VALIDATION_SEC} s (generated: 60) and min_samples ${DEMO_MIN_SAMPLES} (sidecar default 20), so each step's SLI window is short and the small load suffices (${demoSwitchFile})`,
    );
    checkpoint();

    // ---------------------------------------------------------------- haproxy
    phase('haproxy with the generated configuration (rendered for loopback)');
    const hap: DemoHaproxy = await startDemoHaproxy(join(runDir, 'haproxy'), [teamCfg], await freePort());
    teardown.add('haproxy', () => hap.stop());
    recordPids(runDir, { demo: process.pid, team, haproxy: hap.pid });
    detail(`frontend http://127.0.0.1:${hap.httpPort}/, Runtime API ${hap.socketPath}, config ${hap.cfgPath}`);
    checkpoint();

    // ---------------------------------------------------------------- sidecar
    phase('jenkins-sidecar with its embedded PostgreSQL (SIDECAR_DATABASE_URL unset)');
    const sidecarData = sidecarDataDir(runDir, runId);
    if (!sidecarData.startsWith(runDir)) {
      detail(`the checkout is below a directory the 'postgres' user cannot enter: the sidecar's data (embedded PostgreSQL) goes to ${sidecarData}`);
      teardown.add(`the sidecar data dir ${sidecarData}`, async () => rmSync(dirname(sidecarData), { recursive: true, force: true }));
    }
    // What the controllers' jenkins.yaml reads: the team's secrets (random here) and the generated library, which deploy mounts read-only.
    const controllerFiles = { secretsRoot: join(runDir, 'controller-secrets'), libraryDir: generated };
    writeControllerFiles(teamCfg, controllerFiles);
    const sidecar: DemoSidecar = await startDemoSidecar({
      bin: bin.sidecar,
      dataDir: sidecarData,
      teamsFile,
      haproxySocket: hap.socketPath,
      logDir: runDir,
      env: { SIDECAR_CONTROLLER_SECRETS_ROOT: controllerFiles.secretsRoot, SIDECAR_CONTROLLER_LIBRARY_DIR: controllerFiles.libraryDir },
    });
    teardown.add('jenkins-sidecar and its embedded PostgreSQL', () => sidecar.stop());
    recordPids(runDir, { demo: process.pid, team, haproxy: hap.pid, sidecar: sidecar.pid });
    detail(`listening on ${sidecar.httpUrl} (JSON-RPC ${sidecar.rpcUrl}); log ${sidecar.logFile}; ops token in ${sidecar.opsTokenFile}`);
    const ctl: SidecarctlTarget = { bin: bin.sidecarctl, rpcUrl: sidecar.rpcUrl, token: sidecar.opsToken };
    checkpoint();

    // ---------------------------------------------------------------- controllers
    phase(`Team ${team}: blue and green stand-in Jenkins controllers as Docker containers (sidecarctl call environment.deploy)`);
    for (const env of ['blue', 'green'] as const) {
      const r = await sidecarctlCall<{ container: string; healthy: boolean; image: string }>(ctl, 'environment.deploy', { team, target: env, image: images.v1 }, 180_000);
      // The sidecar's service account, as JCasC would create it on a real controller; it lives in the
      // controller's home volume, so the pipeline's redeploys keep it.
      await standinControl(teamCfg, env, { users: [{ name: SERVICE_USER, token: serviceToken }] });
      detail(`${env}: container ${r.container} (${r.image}) healthy=${r.healthy}; service user '${SERVICE_USER}' created`);
      checkpoint();
    }
    // A few jobs on blue, so the pipeline's state migration has something to carry over.
    for (const job of DEMO_JOBS) await createJob(teamCfg.environments.blue.url, SERVICE_USER, serviceToken, job);
    detail(`blue: jobs ${DEMO_JOBS.join(', ')} created (POST /createItem as the service user)`);
    await waitServerUp(hap, teamCfg, 'blue', 20_000);
    detail(`haproxy sees ${teamCfg.environments.blue.server} UP; all traffic on blue`);

    // ---------------------------------------------------------------- load
    phase(`Load: ${LOAD_PER_SECOND} requests/s to GET /login through haproxy (loopback, bounded) while the pipelines run`);
    const load: LoopbackLoad = startLoopbackLoad(hap.httpPort, { perSecond: LOAD_PER_SECOND, maxSeconds: 240 });
    teardown.add('the load', async () => void (await load.stop()));

    const watchState: { run: number; injected: boolean } = { run: 0, injected: false };
    // What the sidecar was doing when: lets the demo say during which phase any failed request fell.
    const timeline: Array<{ at: number; what: string }> = [];
    const watch: OperationWatch = watchOperations({
      httpUrl: sidecar.httpUrl,
      token: sidecar.opsToken,
      team,
      onChange: (op, first) => {
        timeline.push({ at: Date.now(), what: `${op.type} ${op.phase || op.status}` });
        detail(`sidecar operation ${op.type} ${op.id.slice(0, 8)}: ${op.status}${op.phase ? `, phase ${op.phase}` : ''}${op.error ? ` (${op.error.code})` : ''}${first ? ' [new]' : ''}`);
        if (watchState.run === 2 && !watchState.injected && op.type === 'traffic.switch' && op.status === 'running' && /^step-/.test(op.phase)) {
          watchState.injected = true;
          detail(`FAULT INJECTED: blue now answers 503 (stand-in control endpoint, unhealthy=true) during the switch's ${op.phase}`);
          void standinControl(teamCfg, 'blue', { unhealthy: true }).catch((err: Error) => detail(`could not inject the fault: ${err.message}`));
        }
      },
    });
    teardown.add('the operations watch', async () => watch.stop());

    phase('Compiling the Groovy 2.4 pipeline harness (test/groovy/jsm/harness)');
    const classes = await compileHarness(root, join(root, '.tmp', 'demo', 'harness-classes'));
    const sidecarctlWrapper = join(runDir, 'sidecarctl');
    writeFileSync(sidecarctlWrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(bin.sidecarctl)} "$@"\n`, { mode: 0o755 });
    const pipeline = (build: number, target: EnvironmentName): Promise<PipelineOutcome> =>
      runPipeline({
        classes,
        runner: join(root, 'demo', 'RunPipeline.groovy'),
        workDir: join(runDir, `build-${build}`),
        library: join(generated, 'library'),
        team,
        file: demoSwitchFile,
        env: {
          JOB_NAME: `${team}/${SWITCH_JOB}`,
          BUILD_NUMBER: String(build),
          JENKINS_URL: `http://127.0.0.1:${hap.httpPort}/`,
          SIDECAR_URL: sidecar.rpcUrl,
          SIDECARCTL: sidecarctlWrapper,
          PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
        },
        params: { TARGET_ENVIRONMENT: target, COORDINATION_MODE: 'safe' },
        credentials: { [teamCfg.sidecar_credentials_id]: sidecar.opsToken },
        timeoutMs: 150_000,
      });
    checkpoint();

    // ---------------------------------------------------------------- switch to green
    phase(`Pipeline ${team}/${SWITCH_JOB} #1 (TARGET_ENVIRONMENT=green) in the Groovy harness, every step calling the real sidecar through sidecarctl`);
    detail('order: deploy green → migrate blue → green and validate green (green has no traffic yet, so its reload is invisible) → progressive switch');
    watchState.run = 1;
    const before1 = { ...load.counts(), at: Date.now() };
    const r1 = await pipeline(1, 'green');
    checkpoint();
    const s1 = await trafficStatus(ctl, team);
    const d1 = diffCounts(before1, load.counts());
    detail(`pipeline #1: ${r1.result}; stages: ${r1.stages.map((s) => `${s.name}=${s.status}`).join(', ')}`);
    detail(`haproxy live weights blue=${s1.live.blue} green=${s1.live.green}; load during the run: ${describeCounts(d1)}`);
    detail(`failed requests during build #1 (deploy, migration with green's reload, switch): ${d1.serverErrors + d1.socketErrors} of ${d1.requests}`);
    if (d1.serverErrors + d1.socketErrors > 0) detail(`failed requests fell during: ${attribute(load.failureTimes(), timeline, before1.at)}`);
    // The migration left blue quiet (no new builds whose records would be lost now that traffic left it).
    const blueQuiet1 = await quietingDown(teamCfg.environments.blue.url, SERVICE_USER, serviceToken);
    detail(`blue (the old side) quietingDown=${blueQuiet1}`);
    switchOk = r1.result === 'SUCCESS' && s1.live.blue === 0 && s1.live.green === 100 && s1.desired.green === 100 && blueQuiet1;
    outcome(
      'switch',
      switchOk,
      switchOk
        ? 'promoted to green, all traffic on green (blue=0 green=100); blue stays in quiet-down'
        : `pipeline ${r1.result} (${r1.error ?? 'no error'}), weights blue=${s1.live.blue} green=${s1.live.green}, blue quietingDown=${blueQuiet1}`,
    );

    // ---------------------------------------------------------------- switch back with a fault
    if (switchOk) {
      phase(`Pipeline #2 (TARGET_ENVIRONMENT=blue): the demo injects a fault into blue once traffic starts moving; the sidecar must roll back and post { failure } must lift green's quiet-down`);
      watchState.run = 2;
      const before2 = { ...load.counts(), at: Date.now() };
      const r2 = await pipeline(2, 'blue');
      checkpoint();
      // Leave blue healthy again (its controller stays up as the standby).
      await standinControl(teamCfg, 'blue', { unhealthy: false }).catch(() => undefined);
      const s2 = await trafficStatus(ctl, team);
      const lastSwitch = await latestOperation(sidecar, team, 'traffic.switch');
      const d2 = diffCounts(before2, load.counts());
      detail(`pipeline #2: ${r2.result}; stages: ${r2.stages.map((s) => `${s.name}=${s.status}`).join(', ')}`);
      detail(`last traffic.switch: ${lastSwitch?.status ?? 'none'} ${lastSwitch?.error ? `${lastSwitch.error.code}: ${lastSwitch.error.message}` : ''}`);
      detail(`haproxy live weights blue=${s2.live.blue} green=${s2.live.green}; load during the run: ${describeCounts(d2)}`);
      detail(`failed requests during build #2 (including the injected fault): ${d2.serverErrors + d2.socketErrors} of ${d2.requests}`);
      if (d2.serverErrors + d2.socketErrors > 0) detail(`failed requests fell during: ${attribute(load.failureTimes(), timeline, before2.at)}`);
      // The migration green → blue quieted green; the rollback gave it all traffic back, so it must build again.
      const greenQuiet2 = await quietingDown(teamCfg.environments.green.url, SERVICE_USER, serviceToken);
      detail(`green (the source, serving again) quietingDown=${greenQuiet2}`);
      rollbackOk =
        watchState.injected &&
        r2.result === 'FAILURE' &&
        lastSwitch?.error?.code === 'SLI_BREACH' &&
        s2.live.green === 100 &&
        s2.live.blue === 0 &&
        s2.desired.green === 100 &&
        !greenQuiet2;
      outcome(
        'rollback',
        rollbackOk,
        rollbackOk
          ? "SLI_BREACH: the switch to blue rolled back, all traffic back on green (blue=0 green=100), the pipeline failed as it should; green's quiet-down lifted"
          : `injected=${watchState.injected}, pipeline ${r2.result}, switch ${lastSwitch?.status ?? 'none'} ${lastSwitch?.error?.code ?? ''}, weights blue=${s2.live.blue} green=${s2.live.green}, green quietingDown=${greenQuiet2}`,
      );
    } else {
      outcome('rollback', false, 'not run: the first switch did not end as expected');
    }
    watch.stop();
    const total = await load.stop();
    detail(`load in total (both builds): ${describeCounts(total)}`);

    const ok = switchOk && rollbackOk;
    phase(ok ? 'DEMO PASSED: switch promoted to green, then a faulty switch back rolled back with SLI_BREACH' : `DEMO FAILED (logs kept in ${runDir})`);
    keepRunDir = !ok;
    if (opts.exit || interrupted) return ok ? 0 : 1;

    phase('Dashboard running. Ctrl-C stops everything the demo started.');
    detail(`dashboard:  ${sidecar.httpUrl}/`);
    detail(`ops token:  ${sidecar.opsTokenFile}   (paste it into the dashboard, or: export SIDECAR_TOKEN="$(cat ${sidecar.opsTokenFile})")`);
    detail(`sidecarctl: SIDECAR_URL=${sidecar.rpcUrl} SIDECAR_TOKEN="$(cat ${sidecar.opsTokenFile})" npx sidecarctl status`);
    detail(`through haproxy: http://127.0.0.1:${hap.httpPort}/login  (blue ${teamCfg.environments.blue.url}, green ${teamCfg.environments.green.url})`);
    detail(
      `try:        SIDECAR_URL=${sidecar.rpcUrl} SIDECAR_TOKEN="$(cat ${sidecar.opsTokenFile})" npx sidecarctl call rollback.emergency --params '{"team":"${team}","reason":"trying the demo","target":"blue"}'`,
    );
    waiting = true;
    await new Promise<void>(() => undefined); // until the signal handler exits
    return 0;
  } catch (err) {
    if (err instanceof Interrupted || interrupted) return 130;
    keepRunDir = true;
    phase(`DEMO FAILED: ${(err as Error).message}`);
    detail(`logs kept in ${runDir}`);
    return 1;
  } finally {
    if (!interrupted) phase('Stopping everything the demo started');
    // After a signal the handler is already tearing down: wait for it, or main's return would exit the process midway.
    await teardown.run();
  }
}

function runNode(script: string, args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${script} ${args.join(' ')} exited ${code}: ${out.trim()}`))));
  });
}

async function createJob(baseUrl: string, user: string, token: string, name: string): Promise<void> {
  const xml = `<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin="workflow-job"><description>created by npm run demo</description><keepDependencies>false</keepDependencies></flow-definition>\n`;
  const res = await fetch(`${baseUrl}/createItem?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { Authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`, 'Content-Type': 'application/xml' },
    body: xml,
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`creating job ${name} on ${baseUrl}: HTTP ${res.status} ${text.slice(0, 200)}`);
}

/** What the controller says: true while it starts no new builds. */
async function quietingDown(baseUrl: string, user: string, token: string): Promise<boolean> {
  const res = await fetch(`${baseUrl}/api/json?tree=quietingDown`, { headers: { Authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}` }, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${baseUrl}/api/json: HTTP ${res.status}`);
  return ((await res.json()) as { quietingDown?: boolean }).quietingDown === true;
}

interface TrafficStatus {
  desired: { blue: number; green: number };
  live: { blue: number; green: number };
}

function trafficStatus(ctl: SidecarctlTarget, team: string): Promise<TrafficStatus> {
  return sidecarctlCall<TrafficStatus>(ctl, 'traffic.status', { team });
}

async function latestOperation(sidecar: DemoSidecar, team: string, type: string): Promise<WatchedOperation | null> {
  const res = await fetch(`${sidecar.httpUrl}/api/v1/operations?team=${encodeURIComponent(team)}&limit=20`, { headers: { Authorization: `Bearer ${sidecar.opsToken}` }, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET /api/v1/operations: HTTP ${res.status}`);
  const body = (await res.json()) as { operations: WatchedOperation[] };
  return body.operations.find((o) => o.type === type) ?? null;
}

async function waitServerUp(hap: DemoHaproxy, team: Team, env: EnvironmentName, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await hap.runtime.showStat()).find((x) => x.backend === team.haproxy_backend && x.server === team.environments[env].server);
    if (s?.status === 'UP') return;
    if (Date.now() > deadline) throw new Error(`haproxy did not see ${team.environments[env].server} UP within ${timeoutMs / 1000} s (status ${s?.status ?? 'absent'})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function diffCounts(a: LoadCounts, b: LoadCounts): LoadCounts {
  const byEnvironment: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a.byEnvironment), ...Object.keys(b.byEnvironment)])) byEnvironment[k] = (b.byEnvironment[k] ?? 0) - (a.byEnvironment[k] ?? 0);
  return {
    requests: b.requests - a.requests,
    ok: b.ok - a.ok,
    serverErrors: b.serverErrors - a.serverErrors,
    otherStatus: b.otherStatus - a.otherStatus,
    socketErrors: b.socketErrors - a.socketErrors,
    byEnvironment,
  };
}

/** Groups failure times by the latest sidecar phase seen before each (the watch polls every 250 ms, so this is approximate). */
function attribute(failures: number[], timeline: Array<{ at: number; what: string }>, since: number): string {
  const groups = new Map<string, number>();
  for (const t of failures.filter((x) => x >= since)) {
    const last = [...timeline].reverse().find((e) => e.at <= t);
    const key = last?.what ?? 'before any operation';
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].map(([k, n]) => `${k} (${n})`).join(', ') || 'none recorded';
}

function describeCounts(c: LoadCounts): string {
  const envs = Object.entries(c.byEnvironment)
    .filter(([, n]) => n > 0)
    .map(([e, n]) => `${e} ${n}`)
    .join(', ');
  return `${c.requests} requests, ${c.ok} ok, ${c.serverErrors} 5xx, ${c.socketErrors} socket errors (served by: ${envs || 'none'})`;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`demo: ${err?.message ?? String(err)}\n`);
    process.exit(1);
  },
);

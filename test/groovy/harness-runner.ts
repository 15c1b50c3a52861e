import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { writePlan } from '../../library-gen/src/apply-plan';
import { planFromTeamsText } from '../../library-gen/src/plan';
import { loadTemplates } from '../../library-gen/src/template-source';
import { installationFromFile, type HarnessInstallation } from './jenkins-installation';

/**
 * Drives the Groovy harness from jest: compiles test/groovy/jsm (groovyc, once
 * per process), writes a scenario spec, runs every scenario in ONE JVM, and
 * returns the results for the test to check.
 */
const run = promisify(execFile);
export const HARNESS_DIR = __dirname;
export const REPO_ROOT = join(__dirname, '..', '..');
export const FAKE_SIDECARCTL = join(__dirname, 'fake-sidecarctl.js');
export const JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64';

export interface Scenario {
  name: string;
  kind?: 'pipeline' | 'jobdsl';
  file?: string;
  script?: string;
  env?: Record<string, string>;
  params?: Record<string, unknown>;
  credentials?: Record<string, string>;
  /**
   * The team whose generated teams/<team>/jenkins.yaml configures the installation the
   * build runs in (default: env.JENKINS_TEAM, else the first folder of JOB_NAME).
   */
  team?: string;
  /** The controller's environment JCasC resolves from (default: JENKINS_ENVIRONMENT blue). */
  controllerEnv?: Record<string, string>;
  /** A `script` runs as the body of `node(<node>) { }` (default: the label generated pipelines ask for). */
  node?: string;
  /** The harness's bound on one `sh` (default 300 s; Jenkins has none: a pipeline with the seed's 5 x 60 s switch needs more). */
  shTimeoutSec?: number;
  build?: {
    /** The previous completed build's result, for post { changed / fixed / regression }. */
    previousResult?: 'SUCCESS' | 'FAILURE' | 'UNSTABLE' | 'ABORTED' | 'NOT_BUILT';
    /** A user aborts the build while an `sh` runs whose environment has these values (e.g. JSM_METHOD). */
    abortWhen?: Record<string, string>;
    /** The job's parameter definitions (as the Job DSL seed created them), before this build. */
    jobParameters?: Record<string, unknown>[];
    /** Names the previous build's Jenkinsfile declared in `parameters {}`. */
    previousJenkinsfileParameters?: string[];
    /** Where `input` lists what it waits for and reads answers (test/groovy/jsm/harness/InputSteps.groovy; default: beside the workspace). */
    inputDir?: string;
  };
}

/** The label every generated pipeline asks for (library-gen AGENT_LABEL). */
export const COORDINATION_LABEL = 'coordination-agent';

export interface ScenarioResult {
  name: string;
  result: 'SUCCESS' | 'FAILURE' | 'UNSTABLE' | 'ABORTED';
  error: string | null;
  value: unknown;
  console: string[];
  stages: { name: string; status: string; error?: string }[];
  steps: string[];
  env: Record<string, string>;
  workspace: string;
  jobs?: Record<string, unknown>[];
  libraries: string[];
  options: { name: string; args: unknown[] }[];
  parametersAfter: Record<string, unknown>[];
}

function groovyFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...groovyFiles(p));
    else if (name.endsWith('.groovy') && name !== 'RunScenarios.groovy') out.push(p);
  }
  return out.sort();
}

let compiled: Promise<string> | undefined;
/**
 * Compiled harness classes, shared by the test files of a run: the directory is
 * named by a hash of the sources and appears by rename, so parallel workers
 * either reuse a complete one or build their own.
 */
export function compileHarness(): Promise<string> {
  compiled ??= (async () => {
    const sources = groovyFiles(HARNESS_DIR);
    const hash = createHash('sha256');
    for (const f of sources) hash.update(f).update(readFileSync(f));
    const final = join(tmpdir(), `jsm-harness-classes-${hash.digest('hex').slice(0, 16)}`);
    if (existsSync(join(final, '.complete'))) return final;
    const out = mkdtempSync(join(tmpdir(), 'jsm-harness-build-'));
    await run('groovyc', ['-d', out, ...sources], { env: { ...process.env, JAVA_HOME }, timeout: 120_000 });
    writeFileSync(join(out, '.complete'), '');
    try {
      renameSync(out, final);
    } catch {
      // Another worker renamed its copy first: use that one, drop ours.
      rmSync(out, { recursive: true, force: true });
    }
    return final;
  })();
  return compiled;
}

export const groovyEnv = (): NodeJS.ProcessEnv => ({ ...process.env, JAVA_HOME, JAVA_OPTS: '-Xss4m -XX:+UseSerialGC -XX:TieredStopAtLevel=1' });

/**
 * Runs the scenarios in one JVM; `library` is the generated library/ directory (or null for Job DSL only).
 * `timeoutMs` bounds the JVM (default 5 min; a pipeline with the seed's 5 x 60 s validation needs more).
 */
export async function runScenarios(library: string | null, scenarios: Scenario[], workRoot: string, timeoutMs = 300_000): Promise<ScenarioResult[]> {
  const { classes, specFile, outFile } = await prepareRun(library, scenarios, workRoot);
  await run('groovy', ['-cp', classes, join(HARNESS_DIR, 'RunScenarios.groovy'), specFile, outFile], { env: groovyEnv(), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return readResults(outFile, scenarios.length);
}

/** The compiled harness and the spec file of one run (each pipeline scenario with its installation). */
async function prepareRun(library: string | null, scenarios: Scenario[], workRoot: string): Promise<{ classes: string; specFile: string; outFile: string }> {
  const classes = await compileHarness();
  mkdirSync(workRoot, { recursive: true });
  const specFile = join(workRoot, 'spec.json');
  const specs = scenarios.map((sc) => (sc.kind === 'jobdsl' ? sc : { ...sc, node: sc.node ?? COORDINATION_LABEL, installation: installationFor(library, sc) }));
  writeFileSync(specFile, JSON.stringify({ library, workRoot, scenarios: specs }));
  return { classes, specFile, outFile: join(workRoot, 'results.json') };
}

function readResults(outFile: string, expected: number): ScenarioResult[] {
  const results = JSON.parse(readFileSync(outFile, 'utf8')) as ScenarioResult[];
  if (results.length !== expected) throw new Error(`harness ran ${results.length} of ${expected} scenarios`);
  return results;
}

/** A harness JVM running in the background: its scenarios' results once it ends, or a kill -9 of it and everything it started. */
export interface RunningScenarios {
  pid: number;
  done: Promise<ScenarioResult[]>;
  /** SIGKILL of the whole process group (the JVM and the sh / sidecarctl it runs): a build whose Jenkins died. */
  kill(): Promise<void>;
  /** The JVM's last output (for a test's failure message). */
  output(): string;
}

/** As runScenarios, without waiting: a test can answer the build's `input` while it runs, or kill it. */
export async function startScenarios(library: string | null, scenarios: Scenario[], workRoot: string): Promise<RunningScenarios> {
  const { classes, specFile, outFile } = await prepareRun(library, scenarios, workRoot);
  const child = spawn('groovy', ['-cp', classes, join(HARNESS_DIR, 'RunScenarios.groovy'), specFile, outFile], { env: groovyEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer): void => {
    output = (output + b.toString()).slice(-64 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | string | null>((r) => child.once('exit', (code, signal) => r(code ?? signal)));
  const bound = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 300_000);
  const done = exited.then((code) => {
    clearTimeout(bound);
    if (code !== 0) throw new Error(`harness exited with ${code}: ${output}`);
    return readResults(outFile, scenarios.length);
  });
  done.catch(() => undefined);
  return {
    pid: child.pid!,
    done,
    output: () => output,
    async kill() {
      clearTimeout(bound);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    },
  };
}

/** A waiting `input` as the harness lists it (stand-in for GET /job/<job>/<n>/wfapi/pendingInputActions). */
export interface PendingInput {
  id: string;
  message: string;
  ok: string;
  cancel: string;
  submitter: string | null;
}

export function pendingInputs(inputDir: string): PendingInput[] {
  const dir = join(inputDir, 'pending');
  if (!existsSync(dir)) return [];
  const out: PendingInput[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    try {
      out.push(JSON.parse(readFileSync(join(dir, f), 'utf8')) as PendingInput);
    } catch {
      // being written: seen at the next look
    }
  }
  return out;
}

/**
 * Answers a waiting `input` the way a person does over REST: POST .../input/<id>/proceedEmpty or
 * .../input/<id>/abort as `user`. Written by rename so the harness never reads half an answer.
 */
export function answerInput(inputDir: string, id: string, action: 'proceedEmpty' | 'abort', user: string): void {
  const dir = join(inputDir, 'answers');
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${id}.tmp`);
  writeFileSync(tmp, JSON.stringify({ action, user }));
  renameSync(tmp, join(dir, `${id}.json`));
}

/** The answer the harness refused (InputStepExecution#preSubmissionCheck's message), or null. */
export function refusedAnswer(inputDir: string, id: string): string | null {
  const f = join(inputDir, 'answers', `${id}.refused.txt`);
  return existsSync(f) ? readFileSync(f, 'utf8') : null;
}

/**
 * The installation a pipeline scenario runs in: the generated jenkins.yaml of its team,
 * next to the generated library (out/teams/<team>/jenkins.yaml beside out/library).
 */
function installationFor(library: string | null, sc: Scenario): HarnessInstallation {
  const team = sc.team ?? sc.env?.JENKINS_TEAM ?? sc.env?.JOB_NAME?.split('/')[0];
  if (!library || !team) throw new Error(`scenario ${sc.name}: no team and generated library to read teams/<team>/jenkins.yaml from; the harness runs builds only in a generated installation`);
  const file = join(dirname(library), 'teams', team, 'jenkins.yaml');
  if (!existsSync(file)) throw new Error(`scenario ${sc.name}: ${file} does not exist (generate the team's files first)`);
  return installationFromFile(file, sc.controllerEnv ?? { JENKINS_ENVIRONMENT: 'blue' });
}

/** Generates the full output of library-gen for a teams file into `outDir` (in-process). */
export function generate(teamsYaml: string, outDir: string): void {
  const r = planFromTeamsText(teamsYaml, 'teams.yml', loadTemplates(REPO_ROOT));
  if (!r.ok) throw new Error(r.errors.join('\n'));
  writePlan(outDir, r.plan);
}

/** The fake sidecarctl's call log. */
export function readCalls(logFile: string): { method: string; params: Record<string, unknown>; token: boolean; url: string | null }[] {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { method: string; params: Record<string, unknown>; token: boolean; url: string | null });
}

export const byName = (results: ScenarioResult[]): Map<string, ScenarioResult> => new Map(results.map((r) => [r.name, r]));

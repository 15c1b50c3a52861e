import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { installationFromFile } from '../test/groovy/jenkins-installation';
import { prefixed } from './terminal';

/**
 * Runs a generated Jenkinsfile through the project's Groovy 2.4 pipeline harness
 * (test/groovy/jsm/harness: declarative stages, post conditions, `sh` really runs,
 * `withCredentials` masks the token) with demo/RunPipeline.groovy, which prints the
 * build's console live. The harness classes are compiled once per content hash.
 */
const run = promisify(execFile);
const JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64';

export interface PipelineOutcome {
  result: 'SUCCESS' | 'FAILURE' | 'UNSTABLE' | 'ABORTED';
  error: string | null;
  stages: Array<{ name: string; status: string }>;
}

function groovySources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...groovySources(p));
    else if (name.endsWith('.groovy') && name !== 'RunScenarios.groovy') out.push(p);
  }
  return out;
}

function groovyEnv(): NodeJS.ProcessEnv {
  const javaHome = process.env.JAVA_HOME ?? (existsSync(JAVA_HOME) ? JAVA_HOME : undefined);
  return { ...process.env, ...(javaHome ? { JAVA_HOME: javaHome } : {}), JAVA_OPTS: '-Xss4m -XX:+UseSerialGC -XX:TieredStopAtLevel=1' };
}

/** groovyc of the harness into `cacheRoot/<hash>` (reused while the sources are unchanged). */
export async function compileHarness(repoRoot: string, cacheRoot: string): Promise<string> {
  const sources = groovySources(join(repoRoot, 'test', 'groovy'));
  const h = createHash('sha256');
  for (const s of sources) h.update(s).update(readFileSync(s));
  const dir = join(cacheRoot, h.digest('hex').slice(0, 16));
  if (existsSync(join(dir, 'jsm', 'harness', 'PipelineHarness.class'))) return dir;
  mkdirSync(cacheRoot, { recursive: true });
  // Compile beside, then rename: two demos starting at once never see half a class tree.
  const tmp = mkdtempSync(join(cacheRoot, 'tmp-'));
  await run('groovyc', ['-d', tmp, ...sources], { env: groovyEnv(), timeout: 180_000 });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another run got there first
  }
  return dir;
}

export async function runPipeline(opts: {
  classes: string;
  runner: string;
  workDir: string;
  library: string;
  /** Whose generated teams/<team>/jenkins.yaml (beside `library`) the build runs in. */
  team: string;
  file: string;
  env: Record<string, string>;
  params: Record<string, string>;
  credentials: Record<string, string>;
  timeoutMs: number;
}): Promise<PipelineOutcome> {
  mkdirSync(opts.workDir, { recursive: true });
  const specFile = join(opts.workDir, 'spec.json');
  const outFile = join(opts.workDir, 'result.json');
  writeFileSync(
    specFile,
    // The harness runs the build only as that installation allows (library loading, agent labels).
    JSON.stringify({ library: opts.library, installation: installationFromFile(join(dirname(opts.library), 'teams', opts.team, 'jenkins.yaml'), { JENKINS_ENVIRONMENT: 'blue' }), workspace: join(opts.workDir, 'workspace'), file: opts.file, env: opts.env, params: opts.params, credentials: opts.credentials, out: outFile, prefix: '    | ' }),
    { mode: 0o600 },
  );
  const child = spawn('groovy', ['-cp', opts.classes, opts.runner, specFile], { env: groovyEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (b: Buffer) => process.stdout.write(b));
  child.stderr.on('data', prefixed('    | groovy: '));
  const code = await new Promise<number | null>((resolve, reject) => {
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  if (code !== 0 || !existsSync(outFile)) throw new Error(`the Groovy harness exited with ${code} before writing its result`);
  return JSON.parse(readFileSync(outFile, 'utf8')) as PipelineOutcome;
}

import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { renderSeedJob } from '../../library-gen/src/render/team-files';
import { runScenarios } from '../groovy/harness-runner';

// Real Groovy 2.4 (Jenkins's own version). The generated seed job runs in the Groovy harness's
// Job DSL emulation (test/groovy, limited to methods the real plugin has) and produces the
// expected job tree; `groovyc` is also the syntax gate for the Pipeline script it embeds, whose
// steps (node, git, jobDsl) only a real Jenkins resolves.
const exec = promisify(execFile);
const JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64';
let dir: string;

function team(lines: string[]): Team {
  const yaml = ['jenkins_teams:', `  - team_name: seed${process.pid}`, '    self_management_enabled: true', ...lines].join('\n');
  const { teams, errors } = parseTeamsDocument(yaml, 'seed.yml');
  if (errors.length) throw new Error(errors.join('\n'));
  return teams[0];
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'jsm-seedjob-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One JVM start for all files (a cold start costs 1-2 s). */
async function groovyc(files: string[], out: string): Promise<void> {
  await exec('groovyc', ['-d', out, ...files], { env: { ...process.env, JAVA_HOME }, timeout: 60_000 });
}

test('seedJob.groovy and its embedded Pipeline script compile with groovyc (Groovy 2.4)', async () => {
  const variants = {
    // Library URL and credentials from the teams file, seed job on an agent.
    agent: renderSeedJob(team(['    shared_library:', '      scm_url: git@git.example.com:ops/jsm.git', '      credentials_id: git-ssh'])),
    // Library from self_management_config.pipelines_repository (a file:// URL by default); seed on the controller.
    controller: renderSeedJob(team(['    jenkins_configuration:', '      controller_executors: 1', '      dynamic_agents: false'])),
  };
  const files: string[] = [];
  const expected: string[] = [];
  for (const [name, text] of Object.entries(variants)) {
    const seedFile = join(dir, `seedJob_${name}.groovy`);
    writeFileSync(seedFile, text);
    const inner = /script\('''\n([\s\S]*?)'''\)/.exec(text);
    expect(inner).not.toBeNull();
    const pipelineFile = join(dir, `SeedPipeline_${name}.groovy`);
    writeFileSync(pipelineFile, inner?.[1] ?? '');
    files.push(seedFile, pipelineFile);
    expected.push(`seedJob_${name}.class`, `SeedPipeline_${name}.class`);
  }
  const out = join(dir, 'classes');
  await groovyc(files, out);
  expect(readdirSync(out)).toEqual(expect.arrayContaining(expected));
}, 60_000);

test('groovyc rejects a broken seed (the gate is real)', async () => {
  const broken = join(dir, 'Broken.groovy');
  writeFileSync(broken, renderSeedJob(team([])).replace("folder('", "folder(('"));
  await expect(groovyc([broken], join(dir, 'broken'))).rejects.toMatchObject({ stderr: expect.stringContaining('unexpected') });
}, 60_000);

test('seedJob.groovy runs in the Job DSL harness: team folders, then the sandboxed seed Pipeline that applies jobdsl/ for the team', async () => {
  const t = team(['    shared_library:', '      scm_url: https://git.example.com/jsm.git']);
  const name = t.team_name;
  const [ok, missingFolder] = await runScenarios(
    null,
    [
      { name: 'seed job', kind: 'jobdsl', script: renderSeedJob(t) },
      // The emulation is strict: a job under a folder nobody declared fails, as in Jenkins.
      { name: 'seed job without its folders', kind: 'jobdsl', script: (renderSeedJob(t).replace(/^folder\([\s\S]*?\n}\n/gm, '')) },
    ],
    join(dir, 'harness'),
  );
  expect(ok.error ?? null).toBeNull();
  expect(ok.result).toBe('SUCCESS');
  const jobs = (ok.jobs ?? []) as Array<Record<string, unknown> & { definition?: { cps?: { script: string; sandbox: boolean } } }>;
  expect(jobs.map((j) => [j.type, j.fullName])).toEqual([
    ['folder', name],
    ['folder', `${name}/Infrastructure`],
    ['pipelineJob', `${name}/Infrastructure/Seed-Job`],
  ]);
  const seed = jobs[2];
  expect(seed.properties).toMatchObject({ disableConcurrentBuilds: true });
  expect(seed.definition?.cps?.sandbox).toBe(true);
  expect(seed.definition?.cps?.script).toContain("jobDsl(targets: 'jobdsl/*.groovy'");
  expect(seed.definition?.cps?.script).toContain(`additionalParameters: [JENKINS_TEAM: '${name}']`);
  expect(missingFolder.result).toBe('FAILURE');
  expect(missingFolder.error).toContain('unknown parent path');
}, 120_000);

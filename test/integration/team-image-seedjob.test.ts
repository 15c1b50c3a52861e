import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseTeamsDocument, type Team } from '../../catalog/teams-file';
import { renderSeedJob } from '../../library-gen/src/render/team-files';

// Real Groovy 2.4 (Jenkins's own version): `groovyc` is the syntax gate for the generated
// seed job and for the Pipeline script it embeds. Job DSL and Pipeline steps are resolved
// at run time, so this proves the files parse and compile as Groovy 2.4, not that Jenkins
// accepts every call; the calls used are listed in the Job DSL API (folder, pipelineJob,
// logRotator, properties.disableConcurrentBuilds, definition.cps.script/sandbox, queue).
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
    // No URL anywhere: the Pipeline reads it from the controller environment; seed on the controller.
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

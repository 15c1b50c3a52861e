import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeWorld } from '../groovy/fake-scenario';
import { byName, generate, runScenarios, type ScenarioResult } from '../groovy/harness-runner';

/**
 * The harness refuses what Jenkins refuses: each installation below is a
 * hand-written jenkins.yaml, and each scenario one rule (library loading,
 * labels, node context, Declarative's post order and combined result, aborts,
 * env assignment). The rules' sources are cited in test/groovy/jsm/harness.
 */
const root = mkdtempSync(join(tmpdir(), 'jsm-harness-rules-'));
const world = new FakeWorld(root);
const out = join(root, 'out');
let results: Map<string, ScenarioResult>;

const node = ['jenkins:', '  numExecutors: 0', '  nodes:', '    - permanent:', '        name: coord', '        labelString: coordination-agent', '        numExecutors: 2', '        mode: EXCLUSIVE', '        nodeProperties:', '          - envVars:', '              env:', '                - key: FROM_NODE', '                  value: yes-node'];
const lib = (implicit: boolean) => ['unclassified:', '  globalLibraries:', '    libraries:', '      - name: jenkins-selfmanage', '        defaultVersion: main', `        implicit: ${implicit}`];
const installations: Record<string, string[]> = {
  'rules-implicit': [...node, ...lib(true)],
  'rules-explicit': [...node, ...lib(false)],
  'rules-nolabel': ['jenkins:', '  numExecutors: 0', ...lib(true)],
};

const declarative = (post: string, steps = "echo 'stage ran'") => `pipeline {
    agent { label 'coordination-agent' }
    stages {
        stage('only') {
            steps {
                ${steps}
            }
        }
    }
    post {
${post}
    }
}
`;
const allPost = ['always', 'changed', 'fixed', 'regression', 'aborted', 'success', 'unsuccessful', 'unstable', 'failure', 'cleanup'].map((c) => `        ${c} { echo "post ${c} sees \${currentBuild.result}" }`).join('\n');

beforeAll(async () => {
  generate(world.teamsYaml(), out);
  for (const [team, lines] of Object.entries(installations)) {
    mkdirSync(join(out, 'teams', team), { recursive: true });
    writeFileSync(join(out, 'teams', team, 'jenkins.yaml'), lines.join('\n') + '\n');
  }
  const file = (name: string, text: string) => {
    const p = join(root, `${name}.Jenkinsfile`);
    writeFileSync(p, text);
    return p;
  };
  const sc = (name: string, team: string, text: string, build = {}) => world.scenario(name, { file: file(name.replace(/\W+/g, '_'), text), team, build });
  results = byName(
    await runScenarios(
      join(out, 'library'),
      [
        sc('implicit: false, no @Library', 'rules-explicit', "pipeline { agent { label 'coordination-agent' }\n stages { stage('s') { steps { script { getCurrentEnvironment() } } } } }"),
        sc('implicit: false, @Library line', 'rules-explicit', "@Library('jenkins-selfmanage@main') _\npipeline { agent { label 'coordination-agent' }\n stages { stage('s') { steps { script { echo \"on ${getCurrentEnvironment()}\" } } } } }"),
        sc('implicit: false, library step', 'rules-explicit', "library 'jenkins-selfmanage'\nnode('coordination-agent') { echo \"on ${getCurrentEnvironment()}\" }"),
        sc('unknown @Library', 'rules-implicit', "@Library('nope') _\nnode('coordination-agent') { echo 'x' }"),
        sc('label nothing provides', 'rules-nolabel', declarative(allPost)),
        sc('sh outside node', 'rules-implicit', "pipeline { agent none\n stages { stage('s') { steps { sh 'true' } } } }"),
        sc('post order, success', 'rules-implicit', declarative(allPost)),
        sc('post order, previous failure', 'rules-implicit', declarative(allPost), { previousResult: 'FAILURE' }),
        sc('exception in always', 'rules-implicit', declarative(`        always { error 'always broke' }\n        failure { echo 'failure ran' }\n        success { echo 'success ran' }\n        cleanup { echo 'cleanup ran' }`)),
        sc('aborted', 'rules-implicit', declarative(allPost, "sh 'echo working'"), { abortWhen: { FROM_NODE: 'yes-node' } }),
        sc('env null', 'rules-implicit', "node('coordination-agent') { env.X = null; echo \"X=${env.X} node=${env.FROM_NODE}\" }"),
      ],
      join(root, 'work'),
    ),
  );
}, 200_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

const get = (name: string): ScenarioResult => {
  const r = results.get(name);
  if (!r) throw new Error(`no result for ${name}`);
  return r;
};
const echoes = (name: string) => get(name).console.filter((l) => l.startsWith('post '));

describe('library loading follows jenkins.yaml', () => {
  it('a library that is not implicit and not requested is not there: No such DSL method', () => {
    expect(get('implicit: false, no @Library').result).toBe('FAILURE');
    expect(get('implicit: false, no @Library').error).toMatch(/^java\.lang\.NoSuchMethodError: No such DSL method 'getCurrentEnvironment' found among steps \[/);
    expect(get('implicit: false, no @Library').libraries).toEqual([]);
  });
  it('@Library and the library step load it', () => {
    for (const name of ['implicit: false, @Library line', 'implicit: false, library step']) {
      expect(get(name).error).toBeNull();
      expect(get(name).libraries).toEqual(['jenkins-selfmanage']);
      expect(get(name).console).toContain('on blue');
    }
  });
  it('an @Library naming no configured library fails as LibraryDecorator does', () => {
    expect(get('unknown @Library').error).toBe('Could not find any definition of libraries [nope]');
  });
});

describe('nodes follow jenkins.yaml', () => {
  it('a label no node or template provides: the queue message, nothing runs, not even post', () => {
    const r = get('label nothing provides');
    expect(r.error).toMatch(/^Still waiting to schedule task: There are no nodes with the label ‘coordination-agent’/);
    expect(r.console.some((l) => l.startsWith('post '))).toBe(false);
  });
  it('a step that needs a workspace outside node fails with the missing-context message', () => {
    expect(get('sh outside node').error).toMatch(/^Required context class hudson\.FilePath is missing/);
  });
  it("a node's envVars reach the build", () => {
    expect(get('env null').console).toContain('X=null node=yes-node');
  });
});

describe("Declarative's post conditions", () => {
  it('run by ordinal with the combined result visible in currentBuild.result', () => {
    expect(get('post order, success').result).toBe('SUCCESS');
    expect(echoes('post order, success')).toEqual(['post always sees SUCCESS', 'post changed sees SUCCESS', 'post success sees SUCCESS', 'post cleanup sees SUCCESS']);
    expect(echoes('post order, previous failure')).toEqual(['post always sees SUCCESS', 'post changed sees SUCCESS', 'post fixed sees SUCCESS', 'post success sees SUCCESS', 'post cleanup sees SUCCESS']);
  });
  it('an exception in always makes the combined result FAILURE: failure runs, success does not, cleanup last', () => {
    const r = get('exception in always');
    expect(r.result).toBe('FAILURE');
    expect(r.error).toBe('always broke');
    expect(r.console.filter((l) => /^(failure|success|cleanup) ran$/.test(l))).toEqual(['failure ran', 'cleanup ran']);
  });
  it('an abort is ABORTED: aborted and unsuccessful run, failure does not', () => {
    const r = get('aborted');
    expect(r.result).toBe('ABORTED');
    expect(echoes('aborted')).toEqual(['post always sees ABORTED', 'post changed sees ABORTED', 'post aborted sees ABORTED', 'post unsuccessful sees ABORTED', 'post cleanup sees ABORTED']);
  });
});

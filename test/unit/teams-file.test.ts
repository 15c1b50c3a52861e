import { parseTeamsDocument } from '../../catalog/teams-file';

describe('teams file', () => {
  it('applies defaults and derives green ports as blue + 100', () => {
    const { teams, errors } = parseTeamsDocument('jenkins_teams:\n  - team_name: devops\n    web_port: 8080\n    agent_port: 50000\n', 't.yml');
    expect(errors).toEqual([]);
    expect(teams[0].environments.green).toMatchObject({ web_port: 8180, agent_port: 50100, server: 'devops-green', container: 'jenkins-devops-green' });
    expect(teams[0].haproxy_backend).toBe('jenkins_backend_devops');
    expect(teams[0].self_management_config.consensus_timeout).toBe(300);
  });

  it('names file, team and field in every error', () => {
    const { teams, errors } = parseTeamsDocument('jenkins_teams:\n  - team_name: devops\n    web_port: "x"\n', 'teams.yml');
    expect(teams).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^teams\.yml: team devops \(jenkins_teams\[0\]\): field web_port: /);
  });

  it('rejects unknown fields, bad names and port collisions', () => {
    const text = [
      'jenkins_teams:',
      '  - team_name: a',
      '    web_port: 8080',
      '  - team_name: b',
      '    web_port: 8180',
      '    agent_port: 50200',
      '  - team_name: "c;d"',
      '  - team_name: e',
      '    web_port: 9000',
      '    agent_port: 51000',
      '    colour: red',
    ].join('\n');
    const { errors } = parseTeamsDocument(text, 'f.yml');
    expect(errors.some((e) => e.includes('jenkins_teams[2]') && e.includes('field team_name'))).toBe(true);
    expect(errors.some((e) => e.includes('team e') && e.includes('colour'))).toBe(true);
    expect(errors.some((e) => e.includes('team b: field web_port: port 8180'))).toBe(true);
  });

  it('reads per-team webhooks as http(s) URLs only', () => {
    const ok = parseTeamsDocument('jenkins_teams:\n  - team_name: devops\n    webhooks:\n      pre_switch: http://127.0.0.1:9/pre\n      rolled_back: https://hooks.example/rb\n', 't.yml');
    expect(ok.errors).toEqual([]);
    expect(ok.teams[0].webhooks).toEqual({ preSwitch: 'http://127.0.0.1:9/pre', rolledBack: 'https://hooks.example/rb' });
    const bad = parseTeamsDocument('jenkins_teams:\n  - team_name: devops\n    webhooks:\n      step: file:///etc/passwd\n', 't.yml');
    expect(bad.errors.join('\n')).toMatch(/team devops .*field webhooks\.step/);
  });

  it('names the file when the YAML itself is hostile: an alias bomb, deep nesting, a huge file', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`), 'jenkins_teams: []'].join('\n');
    const r1 = parseTeamsDocument(bomb, 'bomb.yml');
    expect(r1.teams).toEqual([]);
    expect(r1.errors[0]).toMatch(/^bomb\.yml: /);
    const deep = `jenkins_teams: ${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const r2 = parseTeamsDocument(deep, 'deep.yml');
    expect(r2.teams).toEqual([]);
    expect(r2.errors[0]).toMatch(/^deep\.yml: /);
    const huge = `jenkins_teams:\n  - team_name: devops\n# ${'x'.repeat(2 * 1024 * 1024)}\n`;
    const r3 = parseTeamsDocument(huge, 'huge.yml');
    expect(r3.errors).toEqual([expect.stringMatching(/^huge\.yml: .*bytes; a teams file is at most/)]);
  });
});

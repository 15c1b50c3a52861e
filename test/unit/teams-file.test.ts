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
});

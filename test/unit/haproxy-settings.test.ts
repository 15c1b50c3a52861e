import { parseTeamsDocument } from '../../catalog/teams-file';
import { haproxyOptionsFromSettings, renderHaproxyConfig } from '../../library-gen/src/render/haproxy-config';

const teams = ['jenkins_teams:', '  - team_name: devops', '    web_port: 8080', '    agent_port: 50000'];
const parse = (...haproxy: string[]): ReturnType<typeof parseTeamsDocument> => parseTeamsDocument([...teams, ...haproxy].join('\n'), 't.yml');

describe('the teams file haproxy: section', () => {
  it('is optional: the defaults are the proxy the config always had', () => {
    const r = parse();
    expect(r.errors).toEqual([]);
    expect(r.haproxy).toMatchObject({ bind_address: '0.0.0.0', http_port: 80, stats_socket: '/run/haproxy/admin.sock', server_state_file: '/var/lib/haproxy/server-state', agent_port_offset: 1000 });
    expect(renderHaproxyConfig(r.teams, haproxyOptionsFromSettings(r.haproxy!))).toBe(renderHaproxyConfig(r.teams));
  });

  it('sets bind address and port, TLS, the Runtime API socket, the state file, the agent offset and the domain', () => {
    const r = parse(
      'haproxy:',
      '  bind_address: 10.0.0.5',
      '  http_port: 8081',
      '  tls:',
      '    https_port: 443',
      '    certificate: /etc/haproxy/certs/jenkins.pem',
      '  stats_socket: /run/haproxy/jsm.sock',
      '  server_state_file: /var/lib/haproxy/jsm-state',
      '  agent_port_offset: 2000',
      '  host_domain: jenkins.example.com',
      '  default_team: devops',
    );
    expect(r.errors).toEqual([]);
    const cfg = renderHaproxyConfig(r.teams, haproxyOptionsFromSettings(r.haproxy!));
    expect(cfg).toContain('bind 10.0.0.5:8081\n');
    expect(cfg).toContain('bind 10.0.0.5:443 ssl crt /etc/haproxy/certs/jenkins.pem');
    expect(cfg).toContain('http-request redirect scheme https code 301');
    expect(cfg).toContain('stats socket /run/haproxy/jsm.sock level admin');
    expect(cfg).toContain('server-state-file /var/lib/haproxy/jsm-state');
    expect(cfg).toContain('bind 10.0.0.5:52000');
    expect(cfg).toContain('devops devops.jenkins.example.com');
    expect(cfg).toContain('default_backend jenkins_backend_devops');
  });

  it.each([
    [['  bind_address: 0.0.0.0:80'], 'haproxy: field bind_address: expected an IPv4 address'],
    [['  http_port: 0'], 'haproxy: field http_port'],
    [['  tls:', '    certificate: "/etc/a b.pem"'], 'haproxy: field tls.certificate: expected an absolute path'],
    [['  tls:', '    certificate: "/etc/a.pem\\n    bind 0.0.0.0:1"'], 'haproxy: field tls.certificate'],
    [['  tls:', '    https_port: 80', '    certificate: /etc/a.pem'], 'haproxy: field tls.https_port: must differ from http_port'],
    [['  tls:', '    https_port: 443'], 'haproxy: field tls.certificate'],
    [['  stats_socket: "/run/a.sock level admin"'], 'haproxy: field stats_socket'],
    [['  server_state_file: relative/state'], 'haproxy: field server_state_file'],
    [['  agent_port_offset: -5'], 'haproxy: field agent_port_offset'],
    [['  host_domain: "a;b"'], 'haproxy: field host_domain'],
    [['  default_team: qa'], 'haproxy: field default_team: qa is not in jenkins_teams'],
    [['  maxconn: 5'], 'haproxy: Unrecognized key'],
  ])('refuses %j', (lines, message) => {
    const r = parse('haproxy:', ...lines);
    expect(r.teams).toEqual([]);
    expect(r.errors.join('\n')).toContain(message);
  });

  it('an agent_port_offset of null renders no agent listener', () => {
    const r = parse('haproxy:', '  agent_port_offset: null');
    expect(renderHaproxyConfig(r.teams, haproxyOptionsFromSettings(r.haproxy!))).not.toContain('frontend jenkins_agents_');
  });
});

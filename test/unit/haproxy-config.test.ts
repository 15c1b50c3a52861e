import { parseTeamsDocument } from '../../catalog/teams-file';
import { renderHaproxyConfig } from '../../library-gen/src/render/haproxy-config';

const { teams } = parseTeamsDocument(
  [
    'jenkins_teams:',
    '  - team_name: devops',
    '    web_port: 8080',
    '    agent_port: 50000',
    '  - team_name: dev-qa',
    '    active_environment: green',
    '    web_port: 8090',
    '    agent_port: 50010',
  ].join('\n'),
  't.yml',
);

describe('renderHaproxyConfig', () => {
  const cfg = renderHaproxyConfig(teams, { statsSocket: '/run/h/admin.sock', hostDomain: 'jenkins.example.com' });

  it('renders one backend per team with both servers active and weights 100/0 for the active side', () => {
    expect(cfg).toContain('backend jenkins_backend_devops');
    expect(cfg).toContain('server devops-blue 127.0.0.1:8080 weight 100 cookie blue check');
    expect(cfg).toContain('server devops-green 127.0.0.1:8180 weight 0 cookie green check');
    expect(cfg).toContain('server dev-qa-blue 127.0.0.1:8090 weight 0 cookie blue check');
    expect(cfg).toContain('server dev-qa-green 127.0.0.1:8190 weight 100 cookie green check');
    expect(cfg).not.toMatch(/^\s*server .*\bbackup\b/m);
  });

  it('sends webhooks and token-triggered builds to a triggers backend with one server weighted 1 (the active side), no cookie', () => {
    const triggers = cfg.slice(cfg.indexOf('\nbackend jenkins_triggers_dev-qa'), cfg.indexOf('\nbackend jsm_people_dev-qa'));
    expect(triggers).toContain('server dev-qa-blue 127.0.0.1:8090 weight 0 check');
    expect(triggers).toContain('server dev-qa-green 127.0.0.1:8190 weight 1 check');
    expect(triggers).toContain('no option redispatch');
    expect(triggers).not.toMatch(/^\s*cookie /m);
    // The triggers rule comes before the team's web backend rule, so a person's cookie never decides where a trigger goes.
    const rule = cfg.indexOf('use_backend jenkins_triggers_devops if jsm_trigger team_devops_host || jsm_trigger team_devops_path');
    expect(rule).toBeGreaterThan(0);
    expect(rule).toBeLessThan(cfg.indexOf('use_backend jenkins_backend_devops if'));
    expect(cfg).toMatch(/acl jsm_webhook path_reg .*github-webhook\/\|git\/notifyCommit\$\|bitbucket-hook\/\|project\/\|generic-webhook-trigger\//);
  });

  it('sets the team header and the environment of the server that answered', () => {
    expect(cfg).toContain('http-response set-header X-Jenkins-Team devops');
    expect(cfg).toContain('http-response set-header X-Jenkins-Environment green if { srv_name devops-green }');
  });

  it('pins people with a cookie per server and lets a weight of 0 move them', () => {
    expect(cfg).toContain('cookie JSM_devops insert indirect nocache httponly');
    expect(cfg).toContain('ignore-persist if { req.cook(JSM_devops) -m str green } { srv_uweight(jenkins_backend_devops/devops-green) eq 0 }');
    expect(cfg).toContain('http-response track-sc2 srv_name table jsm_people_devops if');
    expect(cfg).toContain('backend jsm_people_devops\n    stick-table type string len 64 size 8 store gpc0,gpc1');
  });

  it('has an admin stats socket, a server-state file and host/path routing', () => {
    expect(cfg).toContain('stats socket /run/h/admin.sock level admin mode 600');
    expect(cfg).toContain('server-state-file /var/lib/haproxy/server-state');
    expect(cfg).toContain('load-server-state-from-file global');
    expect(cfg).toContain('acl team_devops_host req.hdr(host),field(1,:),lower -m str devops devops.jenkins.example.com');
    expect(cfg).toContain('acl team_devops_path path -m beg /devops/');
    expect(cfg).not.toContain('default_backend jenkins_backend_');
  });

  it('renders agent TCP backends at agent_port and agent_port+100 tracking the web servers', () => {
    expect(cfg).toContain('bind 0.0.0.0:51000');
    expect(cfg).toContain('server devops-green 127.0.0.1:50100 weight 0 track jenkins_backend_devops/devops-green');
  });

  it('sets the forwarded scheme and port itself, and terminates TLS when told', () => {
    expect(cfg).toContain('http-request set-header X-Forwarded-Proto http unless { ssl_fc }');
    expect(cfg).not.toContain(' ssl crt ');
    const tls = renderHaproxyConfig(teams, { tls: { httpsPort: 443, certificate: '/etc/haproxy/certs/jenkins.pem' } });
    expect(tls).toContain('bind 0.0.0.0:443 ssl crt /etc/haproxy/certs/jenkins.pem');
    expect(tls).toContain('http-request redirect scheme https code 301 unless { ssl_fc } || { src 127.0.0.1 }');
    expect(tls).toContain('cookie JSM_devops insert indirect nocache httponly secure');
    const noRedirect = renderHaproxyConfig(teams, { tls: { httpsPort: 8443, certificate: '/etc/haproxy/j.pem', redirectHttp: false } });
    expect(noRedirect).not.toContain('http-request redirect');
    expect(noRedirect).toContain('httponly\n');
    expect(renderHaproxyConfig(teams, { tls: { httpsPort: 8443, certificate: '/etc/haproxy/j.pem' } })).toContain('redirect location https://%[req.hdr(host),field(1,:)]:8443%[capture.req.uri] code 301');
    expect(() => renderHaproxyConfig(teams, { tls: { httpsPort: 443, certificate: 'relative.pem' } })).toThrow('tls.certificate');
    expect(() => renderHaproxyConfig(teams, { tls: { httpsPort: 80, certificate: '/a.pem' } })).toThrow('tls.httpsPort');
    expect(() => renderHaproxyConfig(teams, { tls: { httpsPort: 443, certificate: '/a.pem\n  bind x' } })).toThrow('tls.certificate');
  });

  it('is deterministic whatever the order of teams', () => {
    expect(renderHaproxyConfig([...teams].reverse(), { statsSocket: '/run/h/admin.sock', hostDomain: 'jenkins.example.com' })).toBe(cfg);
  });

  it('accepts a TCP runtime socket and rejects unsafe option values', () => {
    expect(renderHaproxyConfig(teams, { statsSocket: '127.0.0.1:9999' })).toContain('stats socket ipv4@127.0.0.1:9999 level admin\n');
    expect(() => renderHaproxyConfig(teams, { statsSocket: '/tmp/a b' })).toThrow('statsSocket');
    expect(() => renderHaproxyConfig(teams, { healthPath: '/login\n  acl x' })).toThrow('healthPath');
    expect(() => renderHaproxyConfig(teams, { hostDomain: 'a;b' })).toThrow('hostDomain');
    expect(() => renderHaproxyConfig([{ ...teams[0], team_name: 'x y' }])).toThrow('team name');
  });
});


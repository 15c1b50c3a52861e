import { checkRuntimeName, joinCommands, setStateCommand, setWeightCommand, showServersStateCommand } from '../../agent/src/haproxy/commands';
import { isAdminHeld, isServerUp, parseServersState, parseShowStat } from '../../agent/src/haproxy/stats';

// Captured from HAProxy 2.6.12 (`show stat`, trimmed to the columns up to ttime plus uweight).
const SHOW_STAT = [
  '# pxname,svname,scur,econ,eresp,status,weight,type,check_status,hrsp_2xx,hrsp_5xx,hrsp_other,req_tot,last_chk,rtime,ttime,uweight,',
  'jenkins_http,FRONTEND,0,,,OPEN,,0,,5,0,0,5,,,,,',
  'jenkins_backend_devops,devops-blue,1,0,0,UP,100,2,L7OK,4,1,0,5,,12,15,100,',
  'jenkins_backend_devops,devops-green,0,2,1,DOWN 1/2,0,2,* L4CON,0,0,0,0,Connection refused,,,0,',
  'jenkins_backend_devops,BACKEND,1,2,1,UP,100,1,,4,1,0,5,,12,15,100,',
  '',
].join('\n');

const SERVERS_STATE = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 jenkins_backend_devops 1 devops-blue 127.0.0.1 2 8 50 100 0 15 3 4 6 0 0 0 - 31480 - 0 0 - - 0
3 jenkins_backend_devops 2 devops-green 127.0.0.1 2 1 50 0 2 15 3 4 6 0 0 0 - 31580 - 0 0 - - 0
`;

describe('show stat parser', () => {
  it('returns typed server rows looked up by header name', () => {
    const rows = parseShowStat(SHOW_STAT);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ backend: 'jenkins_backend_devops', server: 'devops-blue', status: 'UP', weight: 100, reqTot: 5, hrsp5xx: 1, rtime: 12, scur: 1 });
    expect(rows[1]).toMatchObject({ server: 'devops-green', status: 'DOWN 1/2', econ: 2, eresp: 1, checkStatus: '* L4CON', lastChk: 'Connection refused', rtime: 0 });
    expect(isServerUp(rows[0])).toBe(true);
    expect(isServerUp(rows[1])).toBe(false);
    expect(isServerUp({ status: 'UP 1/3' })).toBe(false);
  });

  it('fails clearly on text that is not show stat', () => {
    expect(() => parseShowStat('Unknown command.\n')).toThrow('no header line');
  });
});

describe('show servers state parser', () => {
  it('reads weights and admin flags', () => {
    const rows = parseServersState(SERVERS_STATE);
    expect(rows.map((r) => [r.server, r.port, r.weight, r.initialWeight, r.opState])).toEqual([
      ['devops-blue', 31480, 50, 100, 2],
      ['devops-green', 31580, 50, 0, 2],
    ]);
    expect(isAdminHeld(rows[0])).toEqual({ maint: false, drain: true });
    expect(isAdminHeld(rows[1])).toEqual({ maint: true, drain: false });
  });
});

describe('runtime command builder', () => {
  it('builds set/show lines from checked names', () => {
    expect(setWeightCommand('jenkins_backend_devops', 'devops-green', 5)).toBe('set server jenkins_backend_devops/devops-green weight 5');
    expect(setStateCommand('b', 's', 'drain')).toBe('set server b/s state drain');
    expect(showServersStateCommand('b')).toBe('show servers state b');
    expect(joinCommands(['a', 'b'])).toBe('a; b');
    // A separator inside one command is a programming mistake: a plain Error, which the transport answers as INTERNAL.
    expect(() => joinCommands(['a; b'])).toThrow(expect.objectContaining({ name: 'Error', message: 'command "a; b" contains a separator' }));
  });

  it.each(['a b', 'a;b', 'a\nb', 'a\rb', '', 'a/b', 'x'.repeat(65), 'é'])('rejects the name %j', (name) => {
    expect(() => checkRuntimeName('server', name)).toThrow(/refusing to send/);
    expect(() => setWeightCommand('b', name, 1)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });

  it('rejects weights outside 0..256 and unknown states', () => {
    expect(() => setWeightCommand('b', 's', 257)).toThrow('0..256');
    expect(() => setWeightCommand('b', 's', 1.5)).toThrow('0..256');
    expect(() => setStateCommand('b', 's', 'up' as never)).toThrow('ready, drain, maint');
  });
});

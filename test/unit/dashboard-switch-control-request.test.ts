import { trafficAbort, trafficPause, trafficPromote, trafficResume } from '../../catalog/methods/traffic-control';
import { switchControlCall, switchControlRequest } from '../../agent/src/dashboard/switch-control-request';

const METHODS = { 'traffic.pause': trafficPause, 'traffic.resume': trafficResume, 'traffic.promote': trafficPromote, 'traffic.abort': trafficAbort };

describe("the dashboard's switch-control request", () => {
  it('each button stands for one traffic-control call whose params the catalog accepts', () => {
    const bodies = [
      { team: 'devops', command: 'pause', reason: 'look at 25%' },
      { team: 'devops', command: 'resume', reason: 'fine', operationId: 'op-1' },
      { team: 'devops', command: 'promote', reason: 'go on', full: true },
      { team: 'devops', command: 'abort', reason: 'freeze', hold: true },
    ];
    for (const body of bodies) {
      const { method, params } = switchControlCall(switchControlRequest.parse(body));
      expect(METHODS[method].params.safeParse(params).success).toBe(true);
    }
    expect(switchControlCall(switchControlRequest.parse(bodies[3])).params).toEqual({ team: 'devops', reason: 'freeze', hold: true });
  });

  it('refuses what the buttons never send: no reason, control characters, a flag of another command, unknown fields', () => {
    const bad = [
      { team: 'devops', command: 'pause' },
      { team: 'devops', command: 'pause', reason: 'a\nb' },
      { team: 'devops', command: 'pause', reason: 'look', full: true },
      { team: 'devops', command: 'promote', reason: 'go on', hold: true },
      { team: 'devops', command: 'pause', reason: 'look', maxPauseSec: 5, extra: 1 },
      { team: 'Dev Ops', command: 'pause', reason: 'look' },
      { team: 'devops', command: 'rollback', reason: 'look' },
    ];
    for (const body of bad) expect(switchControlRequest.safeParse(body).success).toBe(false);
  });
});

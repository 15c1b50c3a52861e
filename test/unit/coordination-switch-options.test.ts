import { switchOptions } from '../../agent/src/environments/coordinated-rollout';
import { coordinationExecuteParams } from '../../catalog/methods/environment';
import { trafficSwitchParams } from '../../catalog/methods/traffic';

/** coordination.execute hands each team's traffic.switch the caller's options, checked by the same rules. */
describe('coordination.execute switch options', () => {
  const base = { team: 'devops', operation: 'plugin_update' } as const;

  it('passes increments, triggers and minSamples to the switch; the switch defaults stay when absent', () => {
    const p = coordinationExecuteParams.parse({ ...base, increments: [25, 100], triggers: ['error_rate > 5%'], minSamples: 5, validationSec: 30 });
    const sw = trafficSwitchParams.parse({ team: 'devops', target: 'green', lockToken: 7, ...switchOptions(p) });
    expect(sw).toMatchObject({ increments: [25, 100], triggers: ['error_rate > 5%'], minSamples: 5, validationSec: 30 });

    const plain = coordinationExecuteParams.parse(base);
    expect(switchOptions(plain)).toEqual({ validationSec: 60 });
    const swPlain = trafficSwitchParams.parse({ team: 'devops', target: 'green', lockToken: 7, ...switchOptions(plain) });
    expect(swPlain.increments).toEqual([5, 10, 25, 50, 100]);
    expect(swPlain.minSamples).toBe(20);
  });

  it('refuses at the edge what the switch would refuse later', () => {
    expect(coordinationExecuteParams.safeParse({ ...base, increments: [50, 90] }).success).toBe(false);
    expect(coordinationExecuteParams.safeParse({ ...base, increments: [50, 25, 100] }).success).toBe(false);
    expect(coordinationExecuteParams.safeParse({ ...base, triggers: ['latency > 5ms'] }).success).toBe(false);
    expect(coordinationExecuteParams.safeParse({ ...base, minSamples: -1 }).success).toBe(false);
  });
});

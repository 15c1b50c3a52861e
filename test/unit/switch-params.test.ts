import { rollbackEmergencyParams, TRAFFIC_METHODS, trafficSwitchParams } from '../../catalog/methods/traffic';
import { percentFromStats } from '../../agent/src/traffic/container-metrics';
import { InFlightSwitches } from '../../agent/src/traffic/in-flight';
import { splitWeights, teamBackendNames, weightChanges } from '../../agent/src/traffic/team-backends';

describe('traffic.switch params', () => {
  it('defaults to the seed: increments 5..100, 60 s windows, the five rollback triggers', () => {
    const p = trafficSwitchParams.parse({ team: 'devops', target: 'green', lockToken: 7 });
    expect(p).toMatchObject({
      increments: [5, 10, 25, 50, 100],
      validationSec: 60,
      triggers: ['error_rate > 2%', 'response_time > 2000ms', 'availability < 99.5%', 'cpu_usage > 90%', 'memory_usage > 95%'],
      lockOperation: 'blue_green_switch',
      onInsufficientSamples: 'rollback',
      sampleIntervalMs: 1000,
    });
  });

  it.each([
    [{ increments: [5, 50] }, 'the last increment must be 100'],
    [{ increments: [50, 25, 100] }, 'strictly increasing'],
    [{ triggers: ['latency > 2%'] }, 'unknown metric latency'],
    [{ target: 'purple' }, 'target'],
    [{ team: 'dev;ops' }, 'team'],
    [{ lockToken: undefined }, 'lockToken'],
    [{ extra: 1 }, 'extra'],
  ])('rejects %j', (override, why) => {
    const r = trafficSwitchParams.safeParse({ team: 'devops', target: 'green', lockToken: 7, ...override });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain(why);
  });

  it('rollback.emergency needs a reason without control characters', () => {
    expect(rollbackEmergencyParams.safeParse({ team: 'devops', reason: 'ok\nrm' }).success).toBe(false);
    expect(rollbackEmergencyParams.parse({ team: 'devops', reason: 'Performance degradation' }).target).toBeUndefined();
  });

  it('lists the three traffic methods', () => {
    expect(TRAFFIC_METHODS.map((m) => [m.name, m.long, m.mutating])).toEqual([
      ['traffic.switch', true, true],
      ['traffic.status', false, false],
      ['rollback.emergency', false, true],
    ]);
  });
});

describe('weights and backends', () => {
  it('splits weights toward the target', () => {
    expect(splitWeights('green', 25)).toEqual({ blue: 75, green: 25 });
    expect(splitWeights('blue', 100)).toEqual({ blue: 100, green: 0 });
  });

  it('applies weights to every backend of the team', () => {
    const names = teamBackendNames('devops');
    const tb = { team: 'devops', web: names.web, backends: [names.web, names.agent], servers: names.servers };
    expect(weightChanges(tb, { blue: 90, green: 10 })).toEqual([
      { backend: 'jenkins_backend_devops', server: 'devops-blue', weight: 90 },
      { backend: 'jenkins_backend_devops', server: 'devops-green', weight: 10 },
      { backend: 'jenkins_agents_devops', server: 'devops-blue', weight: 90 },
      { backend: 'jenkins_agents_devops', server: 'devops-green', weight: 10 },
    ]);
  });

  it('refuses a team whose derived names HAProxy could not hold', () => {
    expect(() => teamBackendNames('a b')).toThrow(/refusing to send/);
  });
});

describe('container metrics', () => {
  it('computes CPU over the interval and memory without page cache, like the docker CLI', () => {
    expect(
      percentFromStats({
        cpu_stats: { cpu_usage: { total_usage: 3_000 }, system_cpu_usage: 20_000, online_cpus: 2 },
        precpu_stats: { cpu_usage: { total_usage: 1_000 }, system_cpu_usage: 10_000 },
        memory_stats: { usage: 600, limit: 1000, stats: { inactive_file: 100 } },
      }),
    ).toEqual({ cpuPercent: 20, memoryPercent: 50 });
    expect(percentFromStats({})).toBeNull();
  });
});

describe('in-flight switches', () => {
  it('halts the running switch of a team and waits for it to settle', async () => {
    const reg = new InFlightSwitches();
    const s = reg.register('devops', 'op-1');
    s.signal.addEventListener('abort', () => setTimeout(() => s.done(), 5));
    expect(await reg.halt('devops', 'stop')).toBe('op-1');
    expect(s.signal.aborted).toBe(true);
    expect(reg.get('devops')).toBeUndefined();
    expect(await reg.halt('devops', 'again')).toBeNull();
  });
});

import { DEFAULT_TRIGGERS, TRIGGER_GRAMMAR, breaches, parseTrigger, parseTriggers } from '../../catalog/triggers';

describe('rollback trigger grammar', () => {
  it('parses the seed forms', () => {
    expect(parseTriggers(DEFAULT_TRIGGERS).map((t) => [t.metric, t.operator, t.threshold])).toEqual([
      ['error_rate', '>', 2],
      ['response_time', '>', 2000],
      ['availability', '<', 99.5],
      ['cpu_usage', '>', 90],
      ['memory_usage', '>', 95],
    ]);
  });

  it('accepts the short names cpu and memory and seconds for response_time', () => {
    expect(parseTrigger('cpu > 80%').metric).toBe('cpu_usage');
    expect(parseTrigger('memory >= 90%').operator).toBe('>=');
    expect(parseTrigger('response_time > 2s').threshold).toBe(2000);
  });

  it.each([
    ['latency > 2%', 'unknown metric latency'],
    ['error_rate = 2%', 'expected <metric>'],
    ['error_rate > 2ms', 'needs a unit of %'],
    ['response_time > 2000', 'needs a unit of ms'],
    ['response_time > 20%', 'needs a unit of ms'],
    ['availability < 150%', 'percentage'],
    ['error_rate > 2%; rm -rf /', 'expected <metric>'],
    ['', 'expected <metric>'],
  ])('rejects %j with a message showing the grammar', (src, why) => {
    expect(() => parseTrigger(src)).toThrow(why);
    expect(() => parseTrigger(src)).toThrow(TRIGGER_GRAMMAR.split('\n')[0]);
  });

  it('evaluates operators', () => {
    const t = parseTrigger('availability < 99.5%');
    expect(breaches(t, 99)).toBe(true);
    expect(breaches(t, 99.5)).toBe(false);
    expect(breaches(parseTrigger('error_rate >= 2%'), 2)).toBe(true);
    expect(breaches(parseTrigger('error_rate <= 2%'), 3)).toBe(false);
  });
});

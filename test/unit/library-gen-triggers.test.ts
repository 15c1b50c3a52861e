import { parseTrigger, TRIGGER_METRIC_ALIASES, TRIGGER_PATTERN } from '../../catalog/triggers';

/**
 * The generated Groovy checks triggers with catalog/triggers.ts's pattern source and
 * alias table but restates parseTrigger's unit rules in Groovy (library-steps.ts);
 * this holds that restatement to parseTrigger's verdicts.
 */
const TRIGGER_PATTERN_SOURCE = TRIGGER_PATTERN.source;
function groovySideAccepts(s: string): boolean {
  if (s.length > 100) return false;
  const m = new RegExp(TRIGGER_PATTERN_SOURCE).exec(s);
  if (!m) return false;
  const metric = TRIGGER_METRIC_ALIASES[m[1]!];
  if (!metric) return false;
  const unit = m[4];
  if (metric === 'response_time') return unit === 'ms' || unit === 's';
  return unit === '%' && Number(m[3]) <= 100;
}

function catalogAccepts(s: string): boolean {
  try {
    parseTrigger(s);
    return true;
  } catch {
    return false;
  }
}

const CORPUS = [
  'error_rate > 2%', 'response_time > 2000ms', 'availability < 99.5%', 'cpu_usage > 90%', 'memory_usage > 95%',
  'cpu >= 80%', 'memory <= 50%', 'response_time > 2s', '  error_rate>2%  ', 'error_rate > 2.5%',
  'latency > 5ms', 'error_rate > 2ms', 'error_rate => 2%', 'error_rate > 2', 'response_time > 2000', 'response_time > 2%',
  'availability < 101%', 'error_rate == 2%', 'ERROR_RATE > 2%', 'error_rate > -2%', 'error_rate > 2 %', '', 'error_rate',
  'error_rate > 2%; rm -rf /', 'x'.repeat(101), 'cpu_usage > 100%', 'cpu_usage > 100.5%', 'response_time >= 1.5s',
];

describe('trigger grammar in the generated Groovy', () => {
  it.each(CORPUS)('agrees with catalog/triggers.ts on %j', (s) => {
    expect(groovySideAccepts(s)).toBe(catalogAccepts(s));
  });
});

/**
 * Rollback triggers of a progressive traffic switch, as a pipeline writes them
 * ('error_rate > 2%'). Shared by the sidecar (which evaluates them), the catalog
 * (defaults, validation) and library-gen (help text); the Groovy steps pass the
 * strings through unchanged, so the grammar is the contract.
 */

export type TriggerMetric = 'error_rate' | 'response_time' | 'availability' | 'cpu_usage' | 'memory_usage';
export type TriggerOperator = '>' | '<' | '>=' | '<=';

export interface Trigger {
  metric: TriggerMetric;
  operator: TriggerOperator;
  /** In the metric's unit: percent for rates/usage/availability, milliseconds for response_time. */
  threshold: number;
  /** The string as given, for messages and the journal. */
  source: string;
}

/** Shown in help and in every parse error. */
export const TRIGGER_GRAMMAR = [
  "A rollback trigger is '<metric> <operator> <number><unit>', one per string:",
  "  error_rate   > | >= | < | <=  N%    5xx responses and connection errors per request in the window",
  "  response_time > | >= | < | <= Nms   mean HAProxy response time in the window (also Ns)",
  "  availability > | >= | < | <=  N%    share of samples whose health check was UP",
  "  cpu_usage (or cpu)       ...  N%    target container CPU (Docker stats)",
  "  memory_usage (or memory) ...  N%    target container memory (Docker stats)",
  "Examples: 'error_rate > 2%', 'response_time > 2000ms', 'availability < 99.5%', 'cpu_usage > 90%', 'memory_usage > 95%'.",
].join('\n');

/** The default progressive_traffic.rollback_triggers. */
export const DEFAULT_TRIGGERS: readonly string[] = [
  'error_rate > 2%',
  'response_time > 2000ms',
  'availability < 99.5%',
  'cpu_usage > 90%',
  'memory_usage > 95%',
];

/** Metric names and their aliases; library-gen's generated Groovy checks triggers with the same table. */
export const TRIGGER_METRIC_ALIASES: Readonly<Record<string, TriggerMetric>> = {
  error_rate: 'error_rate',
  response_time: 'response_time',
  availability: 'availability',
  cpu_usage: 'cpu_usage',
  cpu: 'cpu_usage',
  memory_usage: 'memory_usage',
  memory: 'memory_usage',
};

/** The grammar's shape; `.source` is what the generated Groovy compiles (Java regex accepts it as is). */
export const TRIGGER_PATTERN = /^\s*([a-z_]+)\s*(>=|<=|>|<)\s*(\d+(?:\.\d+)?)\s*(%|ms|s)?\s*$/;

export class TriggerParseError extends Error {
  override readonly name = 'TriggerParseError';
}

function fail(source: string, why: string): never {
  throw new TriggerParseError(`invalid rollback trigger ${JSON.stringify(source)}: ${why}\n${TRIGGER_GRAMMAR}`);
}

/** Strict: an unknown metric, operator or unit is an error that shows the grammar. */
export function parseTrigger(source: string): Trigger {
  if (typeof source !== 'string' || source.length > 100) fail(String(source), 'expected a short string');
  const m = TRIGGER_PATTERN.exec(source);
  if (!m) fail(source, 'expected <metric> <operator> <number><unit>');
  const [, rawMetric, operator, rawNumber, unit] = m;
  const metric = TRIGGER_METRIC_ALIASES[rawMetric];
  if (!metric) fail(source, `unknown metric ${rawMetric}`);
  let threshold = Number(rawNumber);
  if (metric === 'response_time') {
    if (unit === 's') threshold *= 1000;
    else if (unit !== 'ms') fail(source, 'response_time needs a unit of ms or s');
  } else {
    if (unit !== '%') fail(source, `${metric} needs a unit of %`);
    if (threshold > 100) fail(source, `${metric} is a percentage (0-100)`);
  }
  return { metric, operator: operator as TriggerOperator, threshold, source: source.trim() };
}

export function parseTriggers(sources: readonly string[]): Trigger[] {
  return sources.map(parseTrigger);
}

/** Whether `value` breaches the trigger (true = roll back). */
export function breaches(trigger: Trigger, value: number): boolean {
  switch (trigger.operator) {
    case '>':
      return value > trigger.threshold;
    case '>=':
      return value >= trigger.threshold;
    case '<':
      return value < trigger.threshold;
    case '<=':
      return value <= trigger.threshold;
  }
}

/**
 * The rollback-trigger grammar of catalog/triggers.ts in the form the generated
 * Groovy checks it (jsmArgs). catalog/triggers.ts keeps its pattern and aliases
 * private, so they are restated here; test/unit/library-gen-triggers.test.ts
 * holds the two to the same verdicts on a corpus of valid and invalid strings.
 */
export const TRIGGER_PATTERN_SOURCE = '^\\s*([a-z_]+)\\s*(>=|<=|>|<)\\s*(\\d+(?:\\.\\d+)?)\\s*(%|ms|s)?\\s*$';

export const TRIGGER_METRIC_ALIASES: Record<string, string> = {
  error_rate: 'error_rate',
  response_time: 'response_time',
  availability: 'availability',
  cpu_usage: 'cpu_usage',
  cpu: 'cpu_usage',
  memory_usage: 'memory_usage',
  memory: 'memory_usage',
};

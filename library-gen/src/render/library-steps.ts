import { ERROR_CODES } from '../../../catalog/error-codes';
import { STEPS, stepParams, type StepParam, type StepSpec } from '../../../catalog/steps';
import { TEAM_NAME_PATTERN } from '../../../catalog/teams-file';
import { TRIGGER_GRAMMAR, TRIGGER_METRIC_ALIASES, TRIGGER_PATTERN } from '../../../catalog/triggers';
import { groovyLiteral, groovyString, type LiteralValue } from '../groovy-literal';
import type { TemplateSource } from '../template-source';
import { SHIPPED_PLAYBOOKS } from './library-resources';
import { renderStepHelp, HELPER_HELP } from './step-help';

export { GENERATED_HEADER } from './generated-header';
import { GENERATED_HEADER } from './generated-header';

/** One argument of a step as the Groovy spec literal holds it (what jsmArgs checks). */
function specEntry(p: StepParam): string {
  const entry: Record<string, LiteralValue> = { name: p.name, type: p.type };
  if (p.aliases?.length) entry.aliases = p.aliases;
  if (p.required) entry.required = true;
  if ('default' in p) entry.default = p.default as LiteralValue;
  if (p.enum) entry.enum = p.enum;
  if (p.min !== undefined) entry.min = p.min;
  if (p.max !== undefined) entry.max = p.max;
  if (p.pattern) entry.pattern = p.pattern;
  if (p.rpc) entry.rpc = p.rpc;
  entry.doc = p.doc;
  return groovyLiteral(entry);
}

function stepContext(step: StepSpec): object {
  return {
    header: GENERATED_HEADER,
    name: step.name,
    summary: step.summary,
    rpc: step.rpc ?? '',
    mutating: step.mutating,
    team: step.team,
    discriminator: step.discriminator ?? null,
    specEntries: stepParams(step).map(specEntry),
    shippedPlaybooks: SHIPPED_PLAYBOOKS.map(groovyString).join(', '),
  };
}

/** vars/<step>.groovy and .txt for every catalog step, plus the two shared helpers. */
export function renderLibraryVars(templates: TemplateSource): Map<string, string> {
  const out = new Map<string, string>();
  for (const step of STEPS) {
    const template = step.template ? `library-gen/templates/vars/steps/${step.template}.groovy.hbs` : 'library-gen/templates/vars/step.groovy.hbs';
    if (!step.template && !step.rpc) throw new Error(`library-gen: step ${step.name} calls no RPC and has no template`);
    out.set(`library/vars/${step.name}.groovy`, templates.get(template)(stepContext(step)));
    out.set(`library/vars/${step.name}.txt`, renderStepHelp(templates, step));
  }
  const helperContext = {
    header: GENERATED_HEADER,
    triggerPattern: groovyString(TRIGGER_PATTERN.source),
    triggerMetrics: groovyLiteral({ ...TRIGGER_METRIC_ALIASES }),
    triggerGrammar: groovyString(TRIGGER_GRAMMAR),
    teamPatternLiteral: groovyString(TEAM_NAME_PATTERN.source),
    errorCodes: ERROR_CODES.join('|'),
    defaultCredentialsIdLiteral: groovyString('sidecar-token'),
  };
  for (const helper of ['jsmArgs', 'jsmSidecar'] as const) {
    out.set(`library/vars/${helper}.groovy`, templates.get(`library-gen/templates/vars/${helper}.groovy.hbs`)(helperContext));
    out.set(`library/vars/${helper}.txt`, HELPER_HELP[helper]);
  }
  return out;
}

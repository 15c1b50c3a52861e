import { VALIDATION_CHECKS, findStep } from '../../../catalog/steps';
import { COORDINATION_OPERATIONS } from '../../../catalog/steps/common-params';
import { DEFAULT_TRIGGERS } from '../../../catalog/triggers';
import { groovyLiteral } from '../groovy-literal';
import type { TemplateSource } from '../template-source';
import { GENERATED_HEADER } from './generated-header';

export const JENKINSFILES = ['self-managed-switch', 'infrastructure-coordination', 'emergency-rollback', 'backup'] as const;

/** The agent label the self-management pipelines run on. */
export const AGENT_LABEL = 'coordination-agent';

function stepDefault(step: string, param: string): unknown {
  const p = findStep(step)?.params.find((x) => x.name === param);
  if (!p || !('default' in p)) throw new Error(`library-gen: catalog has no default for ${step}.${param}`);
  return p.default;
}

/** pipelines/Jenkinsfile.*: the self-management pipelines (switch, coordination, emergency rollback, backup), with the catalog's defaults. */
export function renderJenkinsfiles(templates: TemplateSource): Map<string, string> {
  // The switch pipeline (Pipeline A) passes the first three triggers; the sidecar adds none by itself.
  const seedTriggers = DEFAULT_TRIGGERS.slice(0, 3);
  const context = {
    header: GENERATED_HEADER.replace(/^\/\/ /, ''),
    agentLabel: AGENT_LABEL,
    // Covers deployment and migration (waiting for running builds), which come before the switch renews the lease.
    lockTimeout: '30m',
    increments: groovyLiteral(stepDefault('progressiveTrafficSwitch', 'increments') as number[]),
    validationTime: String(stepDefault('progressiveTrafficSwitch', 'validationTime')),
    triggers: groovyLiteral([...seedTriggers]),
    checks: groovyLiteral([...VALIDATION_CHECKS]),
    operations: groovyLiteral([...COORDINATION_OPERATIONS]),
    consensusTimeout: String(stepDefault('buildConsensus', 'timeout')),
    operationTimeout: '45m',
    // A whole switch: the 30 min lease, renewed once by the traffic switch, plus its rollback.
    switchTimeoutMinutes: 90,
  };
  const out = new Map<string, string>();
  for (const name of JENKINSFILES) {
    out.set(`pipelines/Jenkinsfile.${name}`, templates.get(`library-gen/templates/pipelines/Jenkinsfile.${name}.hbs`)(context));
  }
  return out;
}

import { OPERATION_NAME_PATTERN } from '../operation-names';
import { TEAM_NAME_PATTERN } from '../teams-file';
import type { StepParam } from './step-spec';

/** Operation names reach lock names, the audit and the journal: the sidecar's one rule (catalog/operation-names.ts). */
export const OPERATION_PATTERN = OPERATION_NAME_PATTERN.source;

export const TEAM_PARAM: StepParam = {
  name: 'team',
  type: 'string',
  pattern: TEAM_NAME_PATTERN.source.replace(/^\^/, '').replace(/\$$/, ''),
  doc: 'Team whose Jenkins is acted on. Default: env.JENKINS_TEAM, else the first folder of env.JOB_NAME (jobs live in <team>/Infrastructure/).',
  rpc: 'team',
};

export const operationParam = (doc: string, extra: Partial<StepParam> = {}): StepParam => ({
  name: 'operation',
  type: 'string',
  pattern: OPERATION_PATTERN.slice(1, -1),
  doc,
  rpc: 'operation',
  ...extra,
});

export const COORDINATION_OPERATIONS = ['version_upgrade', 'plugin_update', 'configuration_change'];

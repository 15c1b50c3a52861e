import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * The project's own lint configuration, run the way `npm run lint` runs it, on
 * source text placed (by --stdin-filename) in each part of the tree: the daemon
 * and the generator may import the catalog, never each other, and the catalog
 * imports neither.
 */
const root = join(__dirname, '..', '..');
const eslintBin = join(root, 'node_modules', '.bin', 'eslint');

interface LintMessage {
  ruleId: string | null;
  message: string;
}

function lintAs(filePath: string, source: string): LintMessage[] {
  const r = spawnSync(eslintBin, ['--stdin', '--stdin-filename', filePath, '--format', 'json'], { cwd: root, input: source, encoding: 'utf8' });
  if (r.error) throw r.error;
  const [report] = JSON.parse(r.stdout) as Array<{ messages: LintMessage[] }>;
  return report!.messages;
}

const boundaryErrors = (messages: LintMessage[]): string[] => messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);

it('agent/ importing library-gen/ fails lint, for a value, a type and a re-export', () => {
  const source = [
    "import { renderHaproxyConfig } from '../../../library-gen/src/render/haproxy-config';",
    "import type { TemplateSource } from '../../../library-gen/src/template-source';",
    "export { renderMonitoring } from '../../../library-gen/src/render/monitoring';",
    'export const used: [typeof renderHaproxyConfig, TemplateSource | null] = [renderHaproxyConfig, null];',
    '',
  ].join('\n');
  const errors = boundaryErrors(lintAs('agent/src/traffic/boundary-probe.ts', source));
  expect(errors).toHaveLength(3);
  for (const e of errors) expect(e).toContain('agent/ may import catalog/, never library-gen/');
});

it('library-gen/ importing agent/ fails lint', () => {
  const source = "import { volumeNameFor } from '../../../agent/src/docker/labels';\nexport const name = volumeNameFor('t', 'blue');\n";
  const errors = boundaryErrors(lintAs('library-gen/src/render/boundary-probe.ts', source));
  expect(errors).toEqual([expect.stringContaining('library-gen/ may import catalog/, never agent/')]);
});

it('catalog/ importing either side fails lint', () => {
  const source = [
    "import { volumeNameFor } from '../agent/src/docker/labels';",
    "import { renderMonitoring } from '../library-gen/src/render/monitoring';",
    'export const used = [volumeNameFor, renderMonitoring];',
    '',
  ].join('\n');
  expect(boundaryErrors(lintAs('catalog/boundary-probe.ts', source))).toHaveLength(2);
});

it('both sides may import the catalog, and their own folders', () => {
  const agent = "import { agentBackendName } from '../../../catalog/haproxy-names';\nimport { splitWeights } from './team-backends';\nexport const used = [agentBackendName, splitWeights];\n";
  const gen = "import { SIDECAR_METRICS } from '../../../catalog/metric-names';\nimport { agentInstance } from './coordination-agent';\nexport const used = [SIDECAR_METRICS, agentInstance];\n";
  expect(lintAs('agent/src/traffic/boundary-probe.ts', agent)).toEqual([]);
  expect(lintAs('library-gen/src/render/boundary-probe.ts', gen)).toEqual([]);
});

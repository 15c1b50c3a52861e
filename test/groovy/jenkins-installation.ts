import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * What a Jenkins booted from a generated jenkins.yaml offers a build, read from
 * the JCasC keys that decide it (configuration-as-code's `jenkins` root for
 * core, `unclassified.globalLibraries` for pipeline-groovy-lib, the docker
 * cloud's `templates`). The Groovy harness runs builds only inside this.
 */
export interface HarnessNode {
  name: string;
  labels: string[];
  executors: number;
  /** hudson.model.Node.Mode: EXCLUSIVE nodes take only builds whose label matches them. */
  mode: 'NORMAL' | 'EXCLUSIVE';
  /** EnvironmentVariablesNodeProperty (node and global `envVars`), or a template's container environment. */
  env: Record<string, string>;
}

export interface HarnessInstallation {
  source: string;
  libraries: { name: string; implicit: boolean; defaultVersion: string | null }[];
  nodes: HarnessNode[];
  clouds: HarnessNode[];
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const labelsOf = (v: unknown): string[] => (typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : []);
const modeOf = (v: unknown): 'NORMAL' | 'EXCLUSIVE' => (v === 'EXCLUSIVE' ? 'EXCLUSIVE' : 'NORMAL');

/** `nodeProperties` / `globalNodeProperties`: `- envVars: {env: [{key, value}]}`. */
function envVarsOf(props: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of list(props)) {
    for (const e of list(obj(obj(p).envVars).env)) out[String(obj(e).key)] = String(obj(e).value ?? '');
  }
  return out;
}

/** A docker template's `environmentsString`: one KEY=value per line. */
function containerEnv(text: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of typeof text === 'string' ? text.split('\n') : []) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/**
 * JCasC's variable resolution of the controller's environment, for the values the harness
 * uses: `${VAR}` and `${VAR:-default}`; an unset variable without a default becomes empty
 * (configuration-as-code SecretSourceResolver, with a warning in the log).
 */
function resolveVars(value: unknown, vars: Record<string, string>): unknown {
  if (typeof value === 'string') return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, def?: string) => vars[name] ?? def ?? '');
  if (Array.isArray(value)) return value.map((v) => resolveVars(v, vars));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveVars(v, vars)]));
  return value;
}

/** `controllerEnv`: the controller container's environment JCasC resolves `${...}` from. */
export function installationFromJcasc(text: string, source: string, controllerEnv: Record<string, string> = {}): HarnessInstallation {
  const doc = obj(resolveVars(parse(text), controllerEnv));
  const jenkins = obj(doc.jenkins);
  const global = envVarsOf(jenkins.globalNodeProperties);
  // The built-in node: `numExecutors`, `labelString`, `mode` at the root; its own label is "built-in" (core 2.307+).
  const nodes: HarnessNode[] = [
    { name: 'built-in', labels: labelsOf(jenkins.labelString), executors: Number(jenkins.numExecutors ?? 2), mode: modeOf(jenkins.mode), env: global },
  ];
  for (const n of list(jenkins.nodes)) {
    const p = obj(obj(n).permanent);
    if (!p.name) continue;
    nodes.push({ name: String(p.name), labels: labelsOf(p.labelString), executors: Number(p.numExecutors ?? 1), mode: modeOf(p.mode), env: { ...global, ...envVarsOf(p.nodeProperties) } });
  }
  const clouds: HarnessNode[] = [];
  for (const c of list(jenkins.clouds)) {
    for (const t of list(obj(obj(c).docker).templates)) {
      const tpl = obj(t);
      clouds.push({ name: String(tpl.name), labels: labelsOf(tpl.labelString), executors: 1, mode: modeOf(tpl.mode), env: { ...global, ...containerEnv(obj(tpl.dockerTemplateBase).environmentsString) } });
    }
  }
  const libraries = list(obj(obj(doc.unclassified).globalLibraries).libraries).map((l) => {
    const lib = obj(l);
    // LibraryConfiguration: implicit defaults to false.
    return { name: String(lib.name), implicit: lib.implicit === true, defaultVersion: typeof lib.defaultVersion === 'string' ? lib.defaultVersion : null };
  });
  return { source, libraries, nodes, clouds };
}

export function installationFromFile(path: string, controllerEnv: Record<string, string> = {}): HarnessInstallation {
  return installationFromJcasc(readFileSync(path, 'utf8'), path, controllerEnv);
}

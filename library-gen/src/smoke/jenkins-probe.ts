import { parse } from 'yaml';

/**
 * The REST calls of `library-gen smoke`, each one a real Jenkins has:
 * - `GET /api/json`: 503 while Jenkins initialises, and configuration-as-code applies
 *   jenkins.yaml during initialisation, so a 200 means it has been applied.
 * - `POST /configuration-as-code/export` (configuration-as-code ConfigurationAsCode#doExport,
 *   @RequirePOST, SYSTEM_READ; reached through jenkins.model.Jenkins#getDynamic, which also
 *   looks at management links): the applied configuration as YAML.
 * - `GET /job/<team>/job/Infrastructure/api/json?tree=jobs[name,buildable]`.
 * - `GET /computer/api/json?tree=computer[displayName,offline,assignedLabels[name]]`.
 * Basic auth as the service user with its password; a password (unlike an API token) needs
 * the session's crumb on a POST (hudson.security.csrf.CrumbFilter), so the crumb is fetched first.
 */
export interface JenkinsProbe {
  get(path: string): Promise<{ status: number; body: string }>;
  post(path: string): Promise<{ status: number; body: string }>;
}

export function basicProbe(baseUrl: string, user: string, password: string, timeoutMs = 10_000): JenkinsProbe {
  const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  let cookie = '';
  const call = async (method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> => {
    const res = await fetch(`${baseUrl}${path}`, { method, headers: { Authorization: auth, ...(cookie ? { Cookie: cookie } : {}), ...headers }, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    const set = res.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0];
    return { status: res.status, body: await res.text() };
  };
  return {
    get: (path) => call('GET', path),
    async post(path) {
      const c = await call('GET', '/crumbIssuer/api/json');
      const crumb = c.status === 200 ? (JSON.parse(c.body) as { crumb: string; crumbRequestField: string }) : null;
      return call('POST', path, crumb ? { [crumb.crumbRequestField]: crumb.crumb } : {});
    },
  };
}

export interface LibraryFacts {
  name: string;
  implicit: boolean;
  defaultVersion?: string;
}

/** unclassified.globalLibraries.libraries of an exported configuration. */
export function librariesOfExport(yamlText: string): LibraryFacts[] {
  const doc = parse(yamlText) as { unclassified?: { globalLibraries?: { libraries?: Array<Record<string, unknown>> } } } | null;
  return (doc?.unclassified?.globalLibraries?.libraries ?? []).map((l) => ({ name: String(l.name), implicit: l.implicit === true, ...(l.defaultVersion ? { defaultVersion: String(l.defaultVersion) } : {}) }));
}

export interface ComputerFacts {
  displayName: string;
  offline: boolean;
  labels: string[];
}

export function computersOf(json: string): ComputerFacts[] {
  const doc = JSON.parse(json) as { computer?: Array<{ displayName: string; offline: boolean; assignedLabels?: Array<{ name: string }> }> };
  return (doc.computer ?? []).map((c) => ({ displayName: c.displayName, offline: c.offline, labels: (c.assignedLabels ?? []).map((l) => l.name) }));
}

export function jobsOf(json: string): Array<{ name: string; buildable?: boolean }> {
  const doc = JSON.parse(json) as { jobs?: Array<{ name: string; buildable?: boolean }> };
  return doc.jobs ?? [];
}

import { SidecarError } from '../sidecar-error';
import type { ComputerSet, JobNode, JobSummary, PluginInfo, QueueItem, QueueItemWithParameters, RootInfo, WhoAmI } from './api-types';

/**
 * Jenkins REST client for one controller: basic auth with user + API token,
 * a crumb fetched (with its session cookie) only when the server asks for
 * one, a timeout on every request and errors that name the controller, the
 * request and what to do. Every failure is a SidecarError DEPENDENCY_DOWN
 * whose data carries `httpStatus` (when there was an answer) and `reason`.
 */
export interface JenkinsClientOptions {
  baseUrl: string;
  user: string;
  token: string;
  /** How this controller is named in messages, e.g. devops/green. */
  label?: string;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

export type JenkinsFailureReason = 'unreachable' | 'timeout' | 'auth' | 'forbidden' | 'unavailable' | 'http' | 'bad_response';

const JOB_FIELDS = '_class,name,fullName,url,color,buildable,nextBuildNumber';
/** Folders need the tree spelled out level by level; 8 levels is deeper than any real layout. */
export const JOBS_TREE = (() => {
  let t = `jobs[${JOB_FIELDS}]`;
  for (let i = 0; i < 7; i++) t = `jobs[${JOB_FIELDS},${t}]`;
  return t;
})();
const EXECUTABLE = 'currentExecutable[url,fullDisplayName,number]';
const COMPUTER_TREE = `busyExecutors,totalExecutors,computer[_class,displayName,offline,temporarilyOffline,offlineCauseReason,idle,executors[idle,${EXECUTABLE}],oneOffExecutors[idle,${EXECUTABLE}]]`;

const FOLDER_CLASSES = /Folder|OrganizationFolder|WorkflowMultiBranchProject/;

/** Pure: flattens the nested jobs tree into full names. */
export function flattenJobs(nodes: JobNode[] | undefined, prefix = ''): JobSummary[] {
  const out: JobSummary[] = [];
  for (const n of nodes ?? []) {
    const fullName = n.fullName ?? (prefix ? `${prefix}/${n.name}` : n.name);
    const folder = Array.isArray(n.jobs) || FOLDER_CLASSES.test(n._class);
    out.push({
      fullName,
      className: n._class,
      buildable: typeof n.buildable === 'boolean' ? n.buildable : null,
      disabled: n.color === 'disabled',
      nextBuildNumber: typeof n.nextBuildNumber === 'number' ? n.nextBuildNumber : null,
      folder,
    });
    if (n.jobs) out.push(...flattenJobs(n.jobs, fullName));
  }
  return out;
}

export class JenkinsClient {
  readonly baseUrl: string;
  readonly label: string;
  readonly user: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private crumb: { field: string; value: string; cookie: string | null } | null = null;

  constructor(opts: JenkinsClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.label = opts.label ?? this.baseUrl;
    this.user = opts.user;
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.fetchImpl = opts.fetchImpl ?? fetch;
  }

  private fail(reason: JenkinsFailureReason, what: string, detail: string, httpStatus?: number, cause?: unknown): SidecarError {
    return new SidecarError('DEPENDENCY_DOWN', `Jenkins ${this.label} (${this.baseUrl}): ${what}: ${detail}`, { reason, httpStatus, url: this.baseUrl, request: what }, { cause });
  }

  private authHeader(): string {
    return `Basic ${Buffer.from(`${this.user}:${this.token}`).toString('base64')}`;
  }

  /** One HTTP exchange; no interpretation of the status. */
  async raw(method: 'GET' | 'POST', path: string, opts: { body?: string; contentType?: string; timeoutMs?: number; auth?: boolean } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (opts.auth !== false) headers.Authorization = this.authHeader();
    if (opts.contentType) headers['Content-Type'] = opts.contentType;
    if (method === 'POST' && this.crumb) {
      headers[this.crumb.field] = this.crumb.value;
      if (this.crumb.cookie) headers.Cookie = this.crumb.cookie;
    }
    const what = `${method} ${path.split('?')[0]}`;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    try {
      return await this.fetchImpl(`${this.baseUrl}${path}`, { method, headers, body: opts.body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError' || e.name === 'AbortError') throw this.fail('timeout', what, `no answer within ${timeoutMs} ms`, undefined, err);
      const cause = (e as Error & { cause?: { code?: string } }).cause?.code ?? e.message;
      throw this.fail('unreachable', what, `cannot connect (${cause}); is the controller running?`, undefined, err);
    }
  }

  /** A request whose answer must be 2xx (or 302 for the POST actions Jenkins redirects). */
  private async call(method: 'GET' | 'POST', path: string, opts: { body?: string; contentType?: string; timeoutMs?: number } = {}): Promise<Response> {
    let res = await this.raw(method, path, opts);
    if (res.status === 403 && method === 'POST') {
      const text = await res.text();
      if (/crumb/i.test(text)) {
        await this.fetchCrumb();
        res = await this.raw(method, path, opts);
      } else {
        throw this.fail('forbidden', `${method} ${path.split('?')[0]}`, `403 Forbidden: user ${this.user} lacks the permission; grant it (Overall/Manage or Administer)`, 403);
      }
    }
    if (res.ok || res.status === 302 || res.status === 303) return res;
    await res.body?.cancel().catch(() => undefined);
    const what = `${method} ${path.split('?')[0]}`;
    if (res.status === 401) throw this.fail('auth', what, `401: user ${this.user}'s API token was rejected; check the team's jenkins_token_file`, 401);
    if (res.status === 403) throw this.fail('forbidden', what, `403 Forbidden for user ${this.user}`, 403);
    if (res.status === 503) throw this.fail('unavailable', what, '503: Jenkins is starting, reloading or restarting; retry shortly', 503);
    throw this.fail('http', what, `unexpected HTTP ${res.status}`, res.status);
  }

  private async json<T>(path: string): Promise<T> {
    const res = await this.call('GET', path);
    try {
      return (await res.json()) as T;
    } catch (err) {
      throw this.fail('bad_response', `GET ${path.split('?')[0]}`, 'answer is not JSON; is this a Jenkins controller?', res.status, err);
    }
  }

  private async fetchCrumb(): Promise<void> {
    const res = await this.call('GET', '/crumbIssuer/api/json');
    const cookie = res.headers.get('set-cookie');
    const body = (await res.json()) as { crumb: string; crumbRequestField: string };
    this.crumb = { field: body.crumbRequestField, value: body.crumb, cookie: cookie ? cookie.split(';')[0] : null };
  }

  whoAmI(): Promise<WhoAmI> {
    return this.json<WhoAmI>('/whoAmI/api/json');
  }
  root(): Promise<RootInfo> {
    return this.json<RootInfo>('/api/json?tree=quietingDown,quietDownReason,useSecurity');
  }
  async listJobs(): Promise<JobSummary[]> {
    const root = await this.json<RootInfo>(`/api/json?tree=${encodeURIComponent(JOBS_TREE)}`);
    return flattenJobs(root.jobs);
  }
  computers(): Promise<ComputerSet> {
    return this.json<ComputerSet>(`/computer/api/json?tree=${encodeURIComponent(COMPUTER_TREE)}`);
  }
  async queue(): Promise<QueueItem[]> {
    return (await this.json<{ items: QueueItem[] }>('/queue/api/json')).items ?? [];
  }
  /** The queue with each item's parameters (Queue.Item actions → ParametersAction.getParameters, name/value exported). */
  async queueWithParameters(): Promise<QueueItemWithParameters[]> {
    const tree = 'items[id,why,inQueueSince,params,task[name,url],actions[parameters[name,value]]]';
    return (await this.json<{ items: QueueItemWithParameters[] }>(`/queue/api/json?tree=${encodeURIComponent(tree)}`)).items ?? [];
  }
  /**
   * Queues a build (ParameterizedJobMixIn.doBuild / doBuildWithParameters, delay 0): the
   * parameterized form when `parameters` is not null. Resolves with the queue item's Location.
   */
  async scheduleBuild(fullName: string, parameters: ReadonlyArray<{ name: string; value: string }> | null): Promise<string | null> {
    const job = fullName.split('/').map((p) => `/job/${encodeURIComponent(p)}`).join('');
    const query = new URLSearchParams({ delay: '0sec' });
    for (const p of parameters ?? []) query.append(p.name, p.value);
    const res = await this.call('POST', `${job}/${parameters ? 'buildWithParameters' : 'build'}?${query.toString()}`);
    await res.body?.cancel().catch(() => undefined);
    return res.headers.get('location');
  }
  /** Queue.doCancelItem: true when cancelled (204), false when the item is no longer queued (404). */
  async cancelQueueItem(id: number): Promise<boolean> {
    try {
      const res = await this.call('POST', `/queue/cancelItem?id=${encodeURIComponent(String(id))}`);
      await res.body?.cancel().catch(() => undefined);
      return true;
    } catch (err) {
      if ((err as SidecarError).data?.httpStatus === 404) return false;
      throw err;
    }
  }
  async plugins(): Promise<PluginInfo[]> {
    return (await this.json<{ plugins: PluginInfo[] }>('/pluginManager/api/json?depth=1')).plugins ?? [];
  }
  async quietDown(message?: string): Promise<void> {
    await this.call('POST', `/quietDown${message ? `?message=${encodeURIComponent(message)}` : ''}`);
  }
  /**
   * SlaveComputer#doDoDisconnect (@RequirePOST, Computer/Disconnect; a no-op when not connected):
   * closes the agent's channel; an inbound agent then connects again by itself.
   */
  async disconnectAgent(name: string, message: string): Promise<void> {
    await this.call('POST', `/computer/${encodeURIComponent(name)}/doDisconnect?offlineMessage=${encodeURIComponent(message)}`);
  }
  /** Computer#doConfigDotXml: the node's configuration (Computer/ExtendedRead), its launcher among it. */
  async nodeConfigXml(name: string): Promise<string> {
    return (await this.call('GET', `/computer/${encodeURIComponent(name)}/config.xml`)).text();
  }
  async cancelQuietDown(): Promise<void> {
    await this.call('POST', '/cancelQuietDown');
  }
  async reload(): Promise<void> {
    await this.call('POST', '/reload');
  }
  async createJob(fullName: string, configXml: string): Promise<void> {
    const parts = fullName.split('/');
    const name = parts.pop() as string;
    const folder = parts.map((p) => `/job/${encodeURIComponent(p)}`).join('');
    await this.call('POST', `${folder}/createItem?name=${encodeURIComponent(name)}`, { body: configXml, contentType: 'application/xml' });
  }

  /** Time of one GET (ms) and its status; throws only when there is no answer. */
  async timedGet(path: string, timeoutMs?: number): Promise<{ ms: number; status: number }> {
    const t0 = performance.now();
    const res = await this.raw('GET', path, { timeoutMs });
    await res.arrayBuffer().catch(() => undefined);
    return { ms: Math.round(performance.now() - t0), status: res.status };
  }

  /** The Helm chart's probe: GET /login answers 200 when the controller is up. */
  async probeLogin(timeoutMs = 2000): Promise<boolean> {
    try {
      const res = await this.raw('GET', '/login', { timeoutMs, auth: false });
      await res.arrayBuffer().catch(() => undefined);
      return res.status === 200;
    } catch {
      return false;
    }
  }
}

import { request } from 'node:http';

/**
 * A person in a browser, reduced to what a switch can break: a cookie jar, a
 * form login, the crumb of their session and a form POST, through haproxy's
 * HTTP frontend (Host routes to the team). `failures` counts what the person
 * would see as an error: a non-2xx answer to a page or a form POST (a 403
 * "No valid crumb", the "Authentication required" page that sends them to
 * /login, a 5xx), and which controller answered each request.
 */
export interface Answer {
  status: number;
  env: string | undefined;
  body: string;
  location: string | undefined;
}

export class Person {
  private readonly jar = new Map<string, string>();
  private crumb: string | null = null;
  requests = 0;
  failures = 0;
  /** The first failure after the proxy moved the person to the other controller (before any success). */
  failuresAtMove = 0;
  /** Requests answered by another controller than the one the person was pinned to. */
  moves = 0;
  /** A move whose consequence (a failure, or a success) the person has not seen yet. */
  private movedSinceLastAnswer = false;
  readonly seen: Record<string, number> = {};
  /** The controller that answered the person's first request (where a new session landed). */
  firstAnsweredBy: string | undefined;

  constructor(
    private readonly port: number,
    private readonly host: string,
    readonly user: string,
    private readonly password: string,
    /** HAProxy's affinity cookie (JSM_<team>), to tell a move from a failure on the same controller. */
    private readonly affinityCookie?: string,
  ) {}

  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  /** Puts a cookie in the jar, as a browser that still holds it does (e.g. a second tab). */
  setCookie(name: string, value: string): void {
    this.jar.set(name, value);
  }

  /** The same person (cookie jar, crumb) sending to another port: what a browser does when the proxy moves it. */
  via(port: number): Person {
    const other = new Person(port, this.host, this.user, this.password, this.affinityCookie);
    for (const [k, v] of this.jar) other.jar.set(k, v);
    other.crumb = this.crumb;
    return other;
  }

  /** The name of the Jenkins session cookie in the jar (JSESSIONID.<hash>), if any. */
  sessionCookieName(): string | undefined {
    return [...this.jar.keys()].find((k) => k.startsWith('JSESSIONID.'));
  }

  send(method: 'GET' | 'POST', path: string, opts: { body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const pin = this.affinityCookie ? this.jar.get(this.affinityCookie) : undefined;
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers: Record<string, string> = { host: this.host, ...(cookie ? { cookie } : {}), ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.port, method, path, headers, agent: false, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          for (const sc of res.headers['set-cookie'] ?? []) {
            const [pair] = sc.split(';');
            const i = pair.indexOf('=');
            if (i > 0) this.jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
          }
          const env = res.headers['x-jenkins-environment'] as string | undefined;
          if (pin !== undefined && env !== undefined && pin !== env) {
            this.moves += 1;
            this.movedSinceLastAnswer = true;
          }
          resolve({ status: res.statusCode ?? 0, env, body: Buffer.concat(chunks).toString('utf8'), location: res.headers.location });
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  /** The login form, then the crumb of the new session. */
  async signIn(): Promise<void> {
    const form = new URLSearchParams({ j_username: this.user, j_password: this.password, from: '/' }).toString();
    const r = await this.send('POST', '/j_spring_security_check', { body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    this.firstAnsweredBy ??= r.env;
    if (r.status !== 302 || r.location === '/loginError') throw new Error(`login of ${this.user} failed: ${r.status} ${r.location ?? ''}`);
    await this.fetchCrumb();
  }

  async fetchCrumb(): Promise<void> {
    const r = await this.send('GET', '/crumbIssuer/api/json');
    this.crumb = r.status === 200 ? (JSON.parse(r.body) as { crumb: string }).crumb : null;
  }

  /** Sends and counts: false when the person saw an error. */
  private async tallied(method: 'GET' | 'POST', path: string, opts: { body?: string; headers?: Record<string, string> } = {}): Promise<boolean> {
    const a = await this.send(method, path, opts);
    this.requests += 1;
    this.firstAnsweredBy ??= a.env;
    this.seen[a.env ?? 'none'] = (this.seen[a.env ?? 'none'] ?? 0) + 1;
    const afterMove = this.movedSinceLastAnswer;
    this.movedSinceLastAnswer = false;
    if (a.status < 300) return true;
    this.failures += 1;
    if (afterMove) this.failuresAtMove += 1;
    return false;
  }

  /**
   * One round of browsing: the dashboard, then a form validation POST with the session's crumb.
   * After an error a person stops and signs in again (as the login page asks), so each failure
   * they see is one request.
   */
  async browse(): Promise<boolean> {
    if (!(await this.tallied('GET', '/'))) return false;
    return this.tallied('POST', '/descriptorByName/hudson.model.FreeStyleProject/checkName', { body: 'value=x', headers: { 'content-type': 'application/x-www-form-urlencoded', 'jenkins-crumb': this.crumb ?? '' } });
  }

  /** What a person does after a failure: sign in again (new session on whichever controller answers). */
  async recover(): Promise<void> {
    await this.signIn();
  }
}

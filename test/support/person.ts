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
  readonly seen: Record<string, number> = {};

  constructor(
    private readonly port: number,
    private readonly host: string,
    readonly user: string,
    private readonly password: string,
  ) {}

  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  /** The same person (cookie jar, crumb) sending to another port: what a browser does when the proxy moves it. */
  via(port: number): Person {
    const other = new Person(port, this.host, this.user, this.password);
    for (const [k, v] of this.jar) other.jar.set(k, v);
    other.crumb = this.crumb;
    return other;
  }

  /** The name of the Jenkins session cookie in the jar (JSESSIONID.<hash>), if any. */
  sessionCookieName(): string | undefined {
    return [...this.jar.keys()].find((k) => k.startsWith('JSESSIONID.'));
  }

  send(method: 'GET' | 'POST', path: string, opts: { body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
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
    if (r.status !== 302 || r.location === '/loginError') throw new Error(`login of ${this.user} failed: ${r.status} ${r.location ?? ''}`);
    await this.fetchCrumb();
  }

  async fetchCrumb(): Promise<void> {
    const r = await this.send('GET', '/crumbIssuer/api/json');
    this.crumb = r.status === 200 ? (JSON.parse(r.body) as { crumb: string }).crumb : null;
  }

  private tally(a: Answer): Answer {
    this.requests += 1;
    this.seen[a.env ?? 'none'] = (this.seen[a.env ?? 'none'] ?? 0) + 1;
    if (a.status >= 300) this.failures += 1;
    return a;
  }

  /** One round of browsing: the dashboard, then a form validation POST with the session's crumb. */
  async browse(): Promise<void> {
    this.tally(await this.send('GET', '/'));
    this.tally(await this.send('POST', '/descriptorByName/hudson.model.FreeStyleProject/checkName', { body: 'value=x', headers: { 'content-type': 'application/x-www-form-urlencoded', 'jenkins-crumb': this.crumb ?? '' } }));
  }

  /** What a person does after a failure: sign in again (new session on whichever controller answers). */
  async recover(): Promise<void> {
    await this.signIn();
  }
}

import { checkRuntimeName } from './commands';

/**
 * The per-team stick table the generated haproxy.cfg fills from responses to
 * signed-in people (library-gen/templates/haproxy.cfg.hbs): keyed by the server
 * that answered, gpc1 counts answers to a session on its own controller, gpc0
 * the ones that were a person-visible error (a crumb refusal, a lost session).
 * Read with `show table <name>`; like `show stat` the counters reset on reload.
 */
export interface PeopleCounters {
  /** Answers to a request carrying a session of the controller that answered. */
  requests: number;
  /** Of those: 403 "No valid crumb", 403 as anonymous, or a redirect to /login. */
  errors: number;
}

export function showTableCommand(table: string): string {
  return `show table ${checkRuntimeName('backend', table)}`;
}

/** `0x55…: key=devops-green use=0 exp=0 gpc0=2 gpc1=40` → { 'devops-green': {errors 2, requests 40} }. */
export function parseShowTable(text: string): Map<string, PeopleCounters> {
  const out = new Map<string, PeopleCounters>();
  for (const line of text.split('\n')) {
    const key = /\skey=(\S+)/.exec(line);
    if (!key) continue;
    const field = (name: string): number => {
      const m = new RegExp(`\\s${name}=(\\d+)`).exec(line);
      return m ? Number(m[1]) : 0;
    };
    out.set(key[1], { requests: field('gpc1'), errors: field('gpc0') });
  }
  return out;
}

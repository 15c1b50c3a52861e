/**
 * What the dashboard's live channel (`GET /api/v1/events`, Server-Sent Events)
 * carries, and the pure rules around it: who may see which event, and how an
 * event is framed on the wire. The stream is fed by the operation runner's
 * in-process event bus (adapted in the composition root), so the page sees a
 * switch's phases and SLI samples as they happen instead of polling.
 */

/** One thing that happened to an operation. */
export interface LiveEvent {
  /** `progress`: a step of a running operation; `operation`: it started or ended. */
  kind: 'progress' | 'operation';
  operationId: string;
  team: string | null;
  /** RPC method of the operation, e.g. traffic.switch. */
  type?: string;
  /** For `operation` events: running, succeeded, failed, rolled_back, aborted. */
  status?: string;
  phase?: string;
  message?: string;
  /** Position in this sidecar's live stream (increases by one per event); the SSE `id`. */
  seq?: number;
  /** Percent of the operation done, when the body knows it (0..100). */
  percent?: number;
  /** Weights HAProxy was just given, when the step moved traffic. */
  weights?: { blue: number; green: number };
  /**
   * One SLI sample taken during a validation window. The page draws these as
   * a small chart; field names follow the traffic engineer's sampler.
   */
  sample?: LiveSample;
  at: string;
  [extra: string]: unknown;
}

export interface LiveSample {
  at?: string;
  errorRate?: number; // percent
  responseTimeMs?: number;
  availability?: number; // percent
  requests?: number;
  [extra: string]: unknown;
}

export interface LiveEventSource {
  /** Registers a listener; returns the function that removes it. */
  subscribe(listener: (event: LiveEvent) => void): () => void;
  /**
   * The events after `seq`, for a page that reconnects with Last-Event-ID, or
   * null when they are no longer kept (the page then re-reads the snapshot).
   */
  since?(seq: number): LiveEvent[] | null;
}

/** Who holds a token: its id and the teams it may see (`*` = every team, the ops token). */
export interface DashboardIdentity {
  id: string;
  teams: readonly string[];
}

export const isOps = (who: DashboardIdentity): boolean => who.teams.includes('*');

/**
 * A team token sees only its teams' operations; operations without a team
 * (global ones such as coordination across all teams) only the ops token.
 */
export function maySee(who: DashboardIdentity, event: Pick<LiveEvent, 'team'>): boolean {
  if (isOps(who)) return true;
  return event.team !== null && who.teams.includes(event.team);
}

/**
 * One SSE frame. `data` is JSON on a single line (JSON.stringify never emits
 * a raw newline), so a message cannot break the framing or inject a field.
 */
export function sseFrame(event: string, data: unknown, id?: number): string {
  if (!/^[a-z][a-z_-]{0,30}$/.test(event)) throw new Error(`invalid SSE event name: ${event}`);
  const idLine = id === undefined ? '' : `id: ${id}\n`;
  return `${idLine}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A comment line: keeps proxies from closing an idle stream; the browser ignores it. */
export const sseKeepAlive = (): string => ': keep-alive\n\n';

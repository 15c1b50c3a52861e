import { Client, ClientConfig } from 'pg';

/**
 * One dedicated connection per store that LISTENs on the store's channels and
 * fans notifications out to in-process subscribers, so waiting for a lock or a
 * vote never polls the database in a loop. NOTIFY is delivered only to sessions
 * listening at commit time, so callers subscribe BEFORE they check the state
 * they wait on. If the connection drops it is re-opened with backoff and every
 * subscriber is called with `null` ("you may have missed something: re-check").
 */
export const CHANNELS = {
  lockReleased: 'jsm_lock_released', // payload: lock name
  proposalOpened: 'jsm_proposal_opened', // payload: proposal id
  voteCast: 'jsm_vote_cast', // payload: proposal id
} as const;
export type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

type Subscriber = (payload: string | null) => void;

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;
/** A partition does not close the socket: probe the LISTEN session so a dead one is replaced. */
const PROBE_EVERY_MS = 15_000;
const PROBE_TIMEOUT_MS = 5_000;

export class NotificationHub {
  private client: Client | null = null;
  private closed = false;
  private reconnectDelay = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private readonly subscribers = new Map<Channel, Set<Subscriber>>();

  /** `connection`: a URL, or a factory that makes the client (the store's, which finds the writable server). */
  constructor(
    private readonly connection: string | ((config: ClientConfig) => Client),
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const config: ClientConfig = { application_name: 'jsm-listen', keepAlive: true, connectionTimeoutMillis: 10_000, query_timeout: PROBE_TIMEOUT_MS };
    const client = typeof this.connection === 'string' ? new Client({ ...config, connectionString: this.connection }) : this.connection(config);
    client.on('notification', (n) => this.dispatch(n.channel as Channel, n.payload ?? ''));
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('LISTEN connection ended')));
    await client.connect();
    for (const channel of Object.values(CHANNELS)) await client.query(`LISTEN ${channel}`); // constants, not input
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.reconnectDelay = RECONNECT_MIN_MS;
    if (!this.probeTimer) {
      this.probeTimer = setInterval(() => {
        const c = this.client;
        if (c) c.query('SELECT 1').catch((err: Error) => this.lost(c, err));
      }, PROBE_EVERY_MS);
      this.probeTimer.unref();
    }
  }

  private lost(client: Client, err: Error): void {
    if (this.client !== client || this.closed) return;
    this.client = null;
    this.onError(err);
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect()
        .then(() => {
          // Anything sent while we were away is lost: make every waiter re-check.
          for (const set of this.subscribers.values()) for (const s of set) s(null);
        })
        .catch((err: Error) => {
          this.onError(err);
          this.scheduleReconnect();
        });
    }, delay);
    this.reconnectTimer.unref();
  }

  private dispatch(channel: Channel, payload: string): void {
    for (const s of [...(this.subscribers.get(channel) ?? [])]) s(payload);
  }

  subscribe(channel: Channel, fn: Subscriber): () => void {
    let set = this.subscribers.get(channel);
    if (!set) {
      set = new Set();
      this.subscribers.set(channel, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  /**
   * A wake-up for `payload` on `channel` (or a reconnect), registered now; `wait(ms)`
   * resolves true when woken, false after ms. Subscribe, re-check, then wait.
   */
  waiter(channel: Channel, payload: string): { wait(ms: number, signal?: AbortSignal): Promise<boolean>; cancel(): void } {
    let woken = false;
    let wake: (() => void) | null = null;
    const unsubscribe = this.subscribe(channel, (p) => {
      if (p !== null && p !== payload) return;
      woken = true;
      wake?.();
    });
    return {
      // An abort ends the wait early (resolves true: "re-check now", where the caller sees the signal).
      wait: (ms: number, signal?: AbortSignal) =>
        new Promise<boolean>((resolve) => {
          if (woken || signal?.aborted) {
            woken = false;
            resolve(true);
            return;
          }
          const onAbort = (): void => wake?.();
          const timer = setTimeout(() => {
            wake = null;
            signal?.removeEventListener('abort', onAbort);
            resolve(false);
          }, Math.max(0, ms));
          wake = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            wake = null;
            woken = false;
            resolve(true);
          };
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      cancel: unsubscribe,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.probeTimer) clearInterval(this.probeTimer);
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => undefined);
    this.subscribers.clear();
  }
}

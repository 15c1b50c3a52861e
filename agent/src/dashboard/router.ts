import express, { NextFunction, Request, Response, Router } from 'express';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLog, type Log } from '../log';
import { isSidecarError } from '../sidecar-error';
import { describeIssues, emergencyStopRequest, EmergencyStopRequest } from './emergency-request';
import { serveSwitchControl } from './switch-control-route';
import type { SwitchControlRequest } from './switch-control-request';
import { bearerToken, httpStatusFor } from './http-status';
import { DashboardIdentity, isOps, LiveEvent, LiveEventSource, maySee, sseFrame, sseKeepAlive } from './live-events';
import { StreamSlots } from './stream-slots';

/**
 * The dashboard: `GET /` (one HTML, one JS, one CSS file, no build step),
 * the live channel `GET /api/v1/events` (Server-Sent Events from the runner's
 * event bus), `POST /api/v1/emergency-stop` (the team's token or the ops token) and
 * `POST /api/v1/switch-control` (pause/resume/promote/abort, the ops token only). The page
 * reads everything else from the read API (`/api/v1/teams`, `operations`,
 * `locks`, `breakers`, `audit`) that the HTTP app serves.
 *
 * Refusals have the read API's shape: `{ error: { code, message } }`.
 *
 * The token never travels in a URL: the page keeps it in sessionStorage and
 * sends it as `Authorization: Bearer`, which is also why the live channel is
 * read with fetch() rather than EventSource (EventSource cannot send headers).
 */
export interface DashboardDeps {
  /** The transport's token check: the identity of a bearer token, or null. */
  authenticate(token: string): DashboardIdentity | null | Promise<DashboardIdentity | null>;
  /** The operation runner's in-process event bus. */
  events: LiveEventSource;
  /** Runs `rollback.emergency` (journaled and audited) on behalf of `who`. */
  emergencyStop(req: EmergencyStopRequest, who: DashboardIdentity): Promise<unknown>;
  /**
   * Runs traffic.pause/resume/promote/abort through the dispatcher on behalf of `who` (ops only:
   * the route refuses other tokens first). Absent: the route answers 404 and the page shows no buttons.
   */
  switchControl?(req: SwitchControlRequest, who: DashboardIdentity): Promise<unknown>;
  /** Comment frames on an idle stream so proxies keep it open. Default 15 s. */
  keepAliveMs?: number;
  /** Open live streams at most; more are refused with 503. Default 64. */
  maxStreams?: number;
  /** Open live streams of one token at most; more are refused with 429 (like the RPC connection limit). Default 8. */
  maxStreamsPerToken?: number;
  /** Streams of the pool only the ops token may take, so team tokens can never starve ops. Default maxStreams / 8 (8 of 64). */
  opsReservedStreams?: number;
  /** Bytes queued for a slow reader before its stream is dropped (it reconnects). Default 1 MiB. */
  maxBufferedBytes?: number;
  /** The sidecar's log (who asked for an emergency stop, streams dropped); silent when absent. */
  log?: Log;
}

const ASSETS = join(__dirname, 'public');

interface Asset {
  body: Buffer;
  type: string;
}

function loadAssets(): Record<string, Asset> {
  const read = (name: string, type: string): Asset => ({ body: readFileSync(join(ASSETS, name)), type });
  return {
    '/': read('index.html', 'text/html; charset=utf-8'),
    '/dashboard/dashboard.js': read('dashboard.js', 'text/javascript; charset=utf-8'),
    '/dashboard/dashboard.css': read('dashboard.css', 'text/css; charset=utf-8'),
  };
}

/** Same-origin only, no inline script: data from the API can never run as code. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

type Authed = Request & { who?: DashboardIdentity };

export function createDashboardRouter(deps: DashboardDeps): Router {
  const router = express.Router();
  addAssetRoutes(router, loadAssets());
  const authenticate = dashboardAuth(deps);
  const maxStreams = deps.maxStreams ?? 64;
  const slots = new StreamSlots({
    maxStreams,
    perToken: deps.maxStreamsPerToken ?? 8,
    opsReserved: Math.max(0, Math.min(deps.opsReservedStreams ?? Math.floor(maxStreams / 8), maxStreams - 1)),
  });
  router.get('/api/v1/events', authenticate, (req: Authed, res) => serveLiveEvents(deps, slots, req, res));
  router.post('/api/v1/emergency-stop', authenticate, express.json({ limit: '8kb' }), (req: Authed, res) => serveEmergencyStop(deps, req, res));
  const switchControl = deps.switchControl;
  if (switchControl) {
    const log = deps.log ?? silentLog;
    router.post('/api/v1/switch-control', authenticate, express.json({ limit: '8kb' }), (req: Authed, res) => serveSwitchControl(switchControl, log, req.who as DashboardIdentity, req.body, res));
  }

  // Malformed JSON bodies: say so in the same shape as every other refusal.
  router.use(['/api/v1/emergency-stop', '/api/v1/switch-control'], (err: Error & { type?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (err.type === 'entity.parse.failed' || err.type === 'entity.too.large') {
      res.status(400).json({ error: { code: 'INVALID_PARAMS', message: `request body: ${err.message}` } });
      return;
    }
    next(err);
  });

  return router;
}

function addAssetRoutes(router: Router, assets: Record<string, Asset>): void {
  for (const [path, asset] of Object.entries(assets)) {
    router.get(path, (_req, res) => {
      res.set({
        'Content-Type': asset.type,
        'Content-Security-Policy': CSP,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Cache-Control': 'no-cache',
      });
      res.send(asset.body);
    });
  }
}

function dashboardAuth(deps: DashboardDeps) {
  return async (req: Authed, res: Response, next: NextFunction): Promise<void> => {
    const token = bearerToken(req.get('authorization'));
    const who = token ? await deps.authenticate(token) : null;
    if (!who) {
      res
        .status(401)
        .set('WWW-Authenticate', 'Bearer')
        .json({ error: { code: 'UNAUTHORIZED', message: 'a valid bearer token is required: enter a token in the dashboard (Authorization: Bearer <token>)' } });
      return;
    }
    req.who = who;
    next();
  };
}

/** GET /api/v1/events: the runner's events the token may see, as Server-Sent Events. */
function serveLiveEvents(deps: DashboardDeps, slots: StreamSlots, req: Authed, res: Response): void {
  const who = req.who as DashboardIdentity;
  const slot = slots.take(who);
  if (!slot.ok) {
    res.status(slot.status).json({ error: slot.error });
    return;
  }
  const keepAliveMs = deps.keepAliveMs ?? 15_000;
  const maxBuffered = deps.maxBufferedBytes ?? 1 << 20;
  const log = deps.log ?? silentLog;
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no', // nginx-style proxies must not hold frames back
    Connection: 'keep-alive',
  });
  res.flushHeaders();
  let closed = false;
  const send = (text: string): void => {
    if (closed) return;
    res.write(text);
    // A reader that stopped reading must not grow our memory: drop it; the page reconnects and re-reads.
    if (res.writableLength > maxBuffered) {
      log.warn('dashboard stream dropped: reader too slow', { token: who.id, queued: res.writableLength });
      close();
    }
  };
  const frame = (event: LiveEvent): string => sseFrame(event.kind, event, event.seq);
  // A reconnecting page names the last event it saw; replay what it missed. since() and
  // subscribe() run in the same tick, so no event falls between them or arrives twice.
  const lastSeen = /^\d{1,15}$/.test(req.get('last-event-id') ?? '') ? Number(req.get('last-event-id')) : null;
  const missed = lastSeen === null ? [] : (deps.events.since?.(lastSeen) ?? null);
  const unsubscribe = deps.events.subscribe((event) => {
    if (maySee(who, event)) send(frame(event));
  });
  const timer = setInterval(() => send(sseKeepAlive()), keepAliveMs);
  timer.unref();
  const close = (): void => {
    if (closed) return;
    closed = true;
    slot.release();
    clearInterval(timer);
    unsubscribe();
    res.end();
  };
  req.on('close', close);
  res.on('error', close);
  send('retry: 2000\n\n');
  // `resumed: false` tells a reconnecting page that events were lost: re-read the snapshot.
  send(sseFrame('hello', { tokenId: who.id, teams: who.teams, ops: isOps(who), resumed: lastSeen !== null && missed !== null }));
  for (const event of missed ?? []) if (maySee(who, event)) send(frame(event));
}

/** POST /api/v1/emergency-stop: rollback.emergency for a team the token may act on. */
async function serveEmergencyStop(deps: DashboardDeps, req: Authed, res: Response): Promise<void> {
  const who = req.who as DashboardIdentity;
  const log = deps.log ?? silentLog;
  const parsed = emergencyStopRequest.safeParse(req.body ?? {});
  if (!parsed.success) {
    res.status(400).json({ error: { code: 'INVALID_PARAMS', message: 'invalid emergency-stop request', fields: describeIssues(parsed.error) } });
    return;
  }
  // A team stopping its own switch is the button's purpose (rollback.emergency is team-scoped over RPC too).
  if (!maySee(who, { team: parsed.data.team })) {
    res.status(403).json({
      error: { code: 'FORBIDDEN', message: `token ${who.id} may act on team(s) ${who.teams.join(', ')}, not ${parsed.data.team}; use that team's token or the ops token` },
    });
    return;
  }
  try {
    log.warn('emergency stop requested from the dashboard', { token: who.id, team: parsed.data.team, reason: parsed.data.reason });
    const result = await deps.emergencyStop(parsed.data, who);
    res.status(200).json({ ok: true, result });
  } catch (err) {
    if (isSidecarError(err)) {
      res.status(httpStatusFor(err.code)).json({ error: { code: err.code, message: err.message, data: err.data } });
      return;
    }
    log.error('emergency stop failed', { error: (err as Error).message });
    res.status(500).json({ error: { code: 'INTERNAL', message: `emergency stop failed: ${(err as Error).message}; run \`sidecarctl emergency-stop\` on the host` } });
  }
}

import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { liveEventsFromBus, REPLAY_EVENTS } from '../../agent/src/dashboard/bus-adapter';
import type { EmergencyStopRequest } from '../../agent/src/dashboard/emergency-request';
import { createDashboardRouter } from '../../agent/src/dashboard/router';
import { SidecarError } from '../../agent/src/sidecar-error';
import { OperationEventBus } from '../../agent/src/operations/event-bus';
import { TokenAuthenticator, sha256Hex } from '../../agent/src/rpc/token-auth';
import type { OperationRecord } from '../../agent/src/store/contract';

/**
 * The dashboard router over real HTTP on a free loopback port: the page and its
 * headers, the live channel (auth, per-team visibility, stream limit) fed by
 * the runner's real event bus, and the emergency-stop endpoint's refusals. The
 * full path (real sidecar, real rollback) is dashboard-browser.test.ts.
 */
const OPS = 'ops-secret-0123456789abcdef';
const TEAM = 'team-secret-0123456789abcdef';
const auth = new TokenAuthenticator([
  { id: 'ops', sha256: sha256Hex(OPS), teams: ['*'] },
  { id: 'alpha-ci', sha256: sha256Hex(TEAM), teams: ['alpha'] },
]);
const bus = new OperationEventBus();
const live = liveEventsFromBus(bus, { now: () => new Date() });
const stops: Array<{ req: EmergencyStopRequest; who: string }> = [];
let server: Server;
let base: string;

beforeAll(async () => {
  const app = express();
  app.use(
    createDashboardRouter({
      authenticate: (token) => {
        const a = auth.authenticate(`Bearer ${token}`);
        return a.ok ? { id: a.principal.tokenId, teams: a.principal.teams } : null;
      },
      events: live,
      maxStreams: 2,
      emergencyStop: async (req, who) => {
        if (req.team === 'ghost') throw new SidecarError('NOT_FOUND', 'team ghost is not in the teams file; check SIDECAR_TEAMS_FILE', { team: 'ghost' });
        stops.push({ req, who: who.id });
        return { active: req.target ?? 'blue', weights: { blue: 100, green: 0 } };
      },
    }),
  );
  server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  live.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const bearer = (t: string): Record<string, string> => ({ Authorization: `Bearer ${t}` });

/** Opens the live channel and returns a reader of whole SSE frames. */
async function openStream(token: string, lastEventId?: number, at = base): Promise<{ next(): Promise<{ event: string; id?: number; data: Record<string, unknown> }>; close(): void }> {
  const ctl = new AbortController();
  const headers = { ...bearer(token), ...(lastEventId === undefined ? {} : { 'Last-Event-ID': String(lastEventId) }) };
  const res = await fetch(`${at}/api/v1/events`, { headers, signal: ctl.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  return {
    async next() {
      for (let i = 0; i < 100; i++) {
        const cut = buf.indexOf('\n\n');
        if (cut >= 0) {
          const frame = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const event = /^event: (.+)$/m.exec(frame)?.[1];
          const data = /^data: (.+)$/m.exec(frame)?.[1];
          const id = /^id: (\d+)$/m.exec(frame)?.[1];
          if (event && data) return { event, id: id === undefined ? undefined : Number(id), data: JSON.parse(data) as Record<string, unknown> };
          continue; // retry: or keep-alive frames
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += decoder.decode(value, { stream: true });
      }
      throw new Error('no frame');
    },
    close: () => ctl.abort(),
  };
}

function started(id: string, team: string | null): OperationRecord {
  return { id, type: 'traffic.switch', team, status: 'running', phase: 'start', ownerInstance: 'i', initiatedBy: 'ops', idempotencyKey: null, params: { team, target: 'green' }, result: null, error: null, startedAt: new Date(), completedAt: null, steps: [] };
}

describe('dashboard router over HTTP', () => {
  it('serves the page and its two assets with a strict CSP and no token needed', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script src="/dashboard/dashboard.js" defer></script>');
    const js = await fetch(`${base}/dashboard/dashboard.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toContain("sessionStorage.getItem(TOKEN_KEY)");
    expect((await fetch(`${base}/dashboard/dashboard.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('refuses the live channel without a valid bearer token, and a token in the query string', async () => {
    expect((await fetch(`${base}/api/v1/events`)).status).toBe(401);
    expect((await fetch(`${base}/api/v1/events`, { headers: bearer('wrong-token-0123456789') })).status).toBe(401);
    const r = await fetch(`${base}/api/v1/events?token=${OPS}`);
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
  });

  it("streams the runner's events: the ops token sees every team, a team token only its own", async () => {
    const ops = await openStream(OPS);
    const alpha = await openStream(TEAM);
    try {
      expect(await ops.next()).toEqual({ event: 'hello', data: { tokenId: 'ops', teams: ['*'], ops: true, resumed: false } });
      expect(await alpha.next()).toEqual({ event: 'hello', data: { tokenId: 'alpha-ci', teams: ['alpha'], ops: false, resumed: false } });
      bus.emit('started', started('op-beta', 'beta'));
      bus.emit('progress', { operationId: 'op-beta', phase: 'step-5', message: 'beta 5%', weights: { blue: 95, green: 5 } });
      bus.emit('started', started('op-alpha', 'alpha'));
      bus.emit('progress', { operationId: 'op-alpha', phase: 'step-5', message: 'alpha 5%', step: 5 });
      bus.emit('finished', { operationId: 'op-alpha', status: 'succeeded' });

      const opsSeen = [await ops.next(), await ops.next(), await ops.next(), await ops.next(), await ops.next()];
      expect(opsSeen.map((f) => `${f.event}:${f.data.operationId}:${f.data.team}`)).toEqual([
        'operation:op-beta:beta',
        'progress:op-beta:beta',
        'operation:op-alpha:alpha',
        'progress:op-alpha:alpha',
        'operation:op-alpha:alpha',
      ]);
      expect(opsSeen[1].data.weights).toEqual({ blue: 95, green: 5 });
      const alphaSeen = [await alpha.next(), await alpha.next(), await alpha.next()];
      expect(alphaSeen.map((f) => `${f.event}:${f.data.operationId}:${f.data.status ?? f.data.phase}`)).toEqual([
        'operation:op-alpha:running',
        'progress:op-alpha:step-5',
        'operation:op-alpha:succeeded',
      ]);
    } finally {
      ops.close();
      alpha.close();
    }
  });

  it('replays what a reconnecting page missed (Last-Event-ID), only for its teams', async () => {
    const first = await openStream(TEAM);
    await first.next(); // hello
    bus.emit('started', started('op-a1', 'alpha'));
    const seen = await first.next();
    expect(seen.data.operationId).toBe('op-a1');
    first.close();
    // While the page is away:
    bus.emit('progress', { operationId: 'op-a1', phase: 'step-10', message: 'alpha 10%' });
    bus.emit('started', started('op-b1', 'beta'));
    bus.emit('finished', { operationId: 'op-a1', status: 'succeeded' });

    const again = await openStream(TEAM, seen.id);
    try {
      expect((await again.next()).data).toMatchObject({ tokenId: 'alpha-ci', resumed: true });
      const missed = [await again.next(), await again.next()];
      expect(missed.map((f) => `${f.data.operationId}:${f.data.status ?? f.data.phase}`)).toEqual(['op-a1:step-10', 'op-a1:succeeded']);
      expect(missed.every((f) => (f.id ?? 0) > (seen.id ?? 0))).toBe(true);
    } finally {
      again.close();
    }
    // Too old to replay (the sidecar keeps the last REPLAY_EVENTS): the page is told to re-read the snapshot.
    for (let i = 0; i <= REPLAY_EVENTS; i++) bus.emit('progress', { operationId: 'op-flood', phase: 'p', message: '' });
    const stale = await openStream(TEAM, seen.id);
    try {
      expect((await stale.next()).data).toMatchObject({ tokenId: 'alpha-ci', resumed: false });
    } finally {
      stale.close();
    }
  });

  it('limits open streams and frees a slot when a reader goes away', async () => {
    const a = await openStream(OPS);
    const b = await openStream(OPS);
    await a.next();
    await b.next();
    const third = await fetch(`${base}/api/v1/events`, { headers: bearer(OPS) });
    expect(third.status).toBe(503);
    a.close();
    // The server notices the closed socket asynchronously: retry, bounded.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      const ctl = new AbortController();
      const r = await fetch(`${base}/api/v1/events`, { headers: bearer(OPS), signal: ctl.signal });
      status = r.status;
      ctl.abort();
      if (status !== 200) await new Promise((res) => setTimeout(res, 50));
    }
    expect(status).toBe(200);
    b.close();
  });

  it("emergency stop: 401 without a token, 403 with another team's token, 400 for a bad body, the operation with the team's own token or the ops token", async () => {
    const post = (headers: Record<string, string>, body: string): Promise<Response> =>
      fetch(`${base}/api/v1/emergency-stop`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
    const ok = JSON.stringify({ team: 'alpha', reason: 'errors climbing', target: 'blue' });

    expect((await post({}, ok)).status).toBe(401);
    // A team token may stop its own team's switch (as rollback.emergency over RPC and the team's
    // Emergency-Rollback job allow), never another team's.
    const forbidden = await post(bearer(TEAM), JSON.stringify({ team: 'beta', reason: 'not mine' }));
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('not beta') });

    const bad = await post(bearer(OPS), JSON.stringify({ team: 'Alpha; rm', reason: 'x' }));
    expect(bad.status).toBe(400);
    const fields = ((await bad.json()) as { error: { fields: Array<{ field: string }> } }).error.fields.map((f) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['team', 'reason']));
    const malformed = await post(bearer(OPS), '{"team":');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('INVALID_PARAMS');
    expect(stops).toEqual([]);

    const done = await post(bearer(OPS), ok);
    expect(done.status).toBe(200);
    expect(await done.json()).toEqual({ ok: true, result: { active: 'blue', weights: { blue: 100, green: 0 } } });
    expect(stops).toEqual([{ req: { team: 'alpha', reason: 'errors climbing', target: 'blue' }, who: 'ops' }]);
    const own = await post(bearer(TEAM), ok);
    expect(own.status).toBe(200);
    expect(stops[1]).toEqual({ req: { team: 'alpha', reason: 'errors climbing', target: 'blue' }, who: 'alpha-ci' });

    const missing = await post(bearer(OPS), JSON.stringify({ team: 'ghost', reason: 'no such team' }));
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });
});

describe('live streams per token', () => {
  const BETA = 'beta-secret-0123456789abcdef';
  const capped = new TokenAuthenticator([
    { id: 'ops', sha256: sha256Hex(OPS), teams: ['*'] },
    { id: 'alpha-ci', sha256: sha256Hex(TEAM), teams: ['alpha'] },
    { id: 'beta-ci', sha256: sha256Hex(BETA), teams: ['beta'] },
  ]);
  let cappedServer: Server;
  let at: string;
  beforeAll(async () => {
    const app = express();
    app.use(
      createDashboardRouter({
        authenticate: (token) => {
          const a = capped.authenticate(`Bearer ${token}`);
          return a.ok ? { id: a.principal.tokenId, teams: a.principal.teams } : null;
        },
        events: live,
        maxStreams: 4,
        maxStreamsPerToken: 2,
        opsReservedStreams: 1,
        emergencyStop: async () => ({}),
      }),
    );
    cappedServer = createServer(app);
    await new Promise<void>((r) => cappedServer.listen(0, '127.0.0.1', r));
    at = `http://127.0.0.1:${(cappedServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    cappedServer.closeAllConnections();
    await new Promise<void>((r) => cappedServer.close(() => r()));
  });

  it("caps each token's streams (429) and keeps room for the ops token when team tokens fill the rest (503 for them only)", async () => {
    const open = [await openStream(TEAM, undefined, at), await openStream(TEAM, undefined, at)];
    for (const s of open) await s.next();
    const third = await fetch(`${at}/api/v1/events`, { headers: bearer(TEAM) });
    expect(third.status).toBe(429);
    const refused = (await third.json()) as { error: { reason: string; message: string } };
    expect(refused.error).toMatchObject({ code: 'CONFLICT', reason: 'in_flight_limit' });
    expect(refused.error.message).toContain('alpha-ci already has 2 live dashboard streams');
    open.push(await openStream(BETA, undefined, at));
    await open[2]!.next();
    // Team tokens now hold 3 of 4; the last one is kept for the ops token.
    const full = await fetch(`${at}/api/v1/events`, { headers: bearer(BETA) });
    expect(full.status).toBe(503);
    const ops = await openStream(OPS, undefined, at);
    expect((await ops.next()).event).toBe('hello');
    ops.close();
    for (const s of open) s.close();
  });
});

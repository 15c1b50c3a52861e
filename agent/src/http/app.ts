import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { TEAM_NAME_PATTERN } from '../../../catalog/teams-file';
import type { TeamDirectory } from '../config/team-directory';
import type { SidecarMetrics } from '../metrics/sidecar-metrics';
import { listVisibleBreakers, listVisibleLocks } from '../store/visible-listing';
import { visibleTeams, type Principal } from '../rpc/principal';
import type { TokenAuthenticator } from '../rpc/token-auth';
import type { OperationStatus, Store } from '../store/contract';
import { hostAllowed } from './host-check';
import type { ReadinessReport } from './readiness';

/**
 * The HTTP side of the listener: health, readiness, metrics, the read-only
 * REST API (bearer token; a team token sees only its teams) and the dashboard.
 * Routes are thin: read the store, filter by what the token may see, answer.
 */
export interface HttpAppDeps {
  instanceId: string;
  store: Store;
  teams: TeamDirectory;
  auth: TokenAuthenticator;
  metrics: SidecarMetrics;
  readiness: () => Promise<ReadinessReport>;
  /** The dashboard (GET /, live events, emergency stop); a placeholder page when absent. */
  dashboard?: Router;
  startedAt: Date;
  /** Host names answered besides IP literals, localhost and the instance id (host-check.ts). */
  allowedHosts?: readonly string[];
  /** Why the process cannot go on (the embedded PostgreSQL is gone), or null: /healthz then answers 503. */
  health?: () => string | null;
}

type Authed = Request & { principal?: Principal };

const listQuery = z
  .object({
    team: z.string().regex(TEAM_NAME_PATTERN, 'expected a team name').optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    status: z.enum(['running', 'succeeded', 'failed', 'rolled_back', 'aborted']).optional(),
    type: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/).optional(),
  })
  .strip();

const PLACEHOLDER = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>jenkins-sidecar</title></head>
<body><h1>jenkins-sidecar</h1><p>The dashboard is not part of this build. Read API: <code>/api/v1/teams</code>, <code>/api/v1/operations</code>,
<code>/api/v1/locks</code>, <code>/api/v1/breakers</code>, <code>/api/v1/audit</code> (bearer token); <code>/healthz</code>, <code>/readyz</code>, <code>/metrics</code>.</p></body></html>`;

/** An audit page is at most this much JSON (rows are bounded too: details ≤ 16 KiB, params ≤ 32 KiB). */
export const AUDIT_PAGE_MAX_BYTES = 1024 * 1024;

/** The newest rows that fit AUDIT_PAGE_MAX_BYTES; `truncated` says the rest was left off (ask with a smaller limit or a type). */
function boundedPage<T>(entries: readonly T[]): { audit: T[]; truncated?: true } {
  const audit: T[] = [];
  let bytes = 64;
  for (const e of entries) {
    bytes += Buffer.byteLength(JSON.stringify(e), 'utf8') + 1;
    if (bytes > AUDIT_PAGE_MAX_BYTES) return { audit, truncated: true };
    audit.push(e);
  }
  return { audit };
}

export function createHttpApp(deps: HttpAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const hostNames = new Set([deps.instanceId.toLowerCase(), ...(deps.allowedHosts ?? [])]);
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (hostAllowed(req.headers.host, hostNames)) return next();
    res.status(421).json({ error: { code: 'FORBIDDEN', message: 'this sidecar does not answer for that Host name; add it to SIDECAR_ALLOWED_HOSTS if it is yours' } });
  });
  addProbeRoutes(app, deps);
  if (deps.dashboard) app.use(deps.dashboard);
  else app.get('/', (_req, res) => void res.type('html').send(PLACEHOLDER));
  app.use('/api/v1', createReadApi(deps));

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no such route; see /api/v1/teams, /healthz, /readyz, /metrics' } });
  });
  // Express 5 forwards rejected promises here; the store being down is the usual cause.
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(503).json({ error: { code: 'DEPENDENCY_DOWN', message: `could not read the coordination store: ${err.message}` } });
  });
  return app;
}

/** Unauthenticated: liveness, readiness and the Prometheus scrape. */
function addProbeRoutes(app: express.Express, deps: HttpAppDeps): void {
  app.get('/healthz', (_req, res) => {
    const uptimeSec = Math.round((Date.now() - deps.startedAt.getTime()) / 1000);
    // Not "process up" alone: a sidecar whose embedded database is gone must be restarted, not kept.
    const failure = deps.health?.() ?? null;
    if (failure) {
      res.status(503).json({ status: 'failed', reason: failure, instanceId: deps.instanceId, uptimeSec });
      return;
    }
    res.json({ status: 'ok', instanceId: deps.instanceId, uptimeSec });
  });

  app.get('/readyz', async (_req, res) => {
    const report = await deps.readiness();
    res.status(report.ready ? 200 : 503).json({ ...report, instanceId: deps.instanceId });
  });

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', deps.metrics.contentType).send(await deps.metrics.text());
  });
}

/** The read-only REST API under /api/v1: a bearer token, and a team token sees only its teams. */
function createReadApi(deps: HttpAppDeps): Router {
  const api = express.Router();
  api.use(authenticateWith(deps.auth));
  addTeamsRoute(api, deps);
  addListRoutes(api, deps);
  return api;
}

function authenticateWith(auth: TokenAuthenticator) {
  return (req: Authed, res: Response, next: NextFunction): void => {
    const result = auth.authenticate(req.headers.authorization);
    if (!result.ok) {
      res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: { code: 'UNAUTHORIZED', message: result.reason } });
      return;
    }
    req.principal = result.principal;
    next();
  };
}

/** The list query of a read route, or null when it answered 400/403 already. */
function parseQuery(req: Authed, res: Response): z.output<typeof listQuery> | null {
  const q = listQuery.safeParse(req.query);
  if (!q.success) {
    res.status(400).json({ error: { code: 'INVALID_PARAMS', message: q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') } });
    return null;
  }
  const visible = visibleTeams(req.principal!);
  if (q.data.team && visible && !visible.has(q.data.team)) {
    res.status(403).json({ error: { code: 'FORBIDDEN', message: `token ${req.principal!.tokenId} may not read team ${q.data.team}` } });
    return null;
  }
  return q.data;
}

function addTeamsRoute(api: Router, deps: HttpAppDeps): void {
  api.get('/teams', async (req: Authed, res) => {
    const visible = visibleTeams(req.principal!);
    const states = new Map((await deps.store.environments.list()).map((s) => [s.team, s]));
    const configured = deps.teams.list();
    const names = new Set([...configured.map((t) => t.team_name), ...states.keys()]);
    const teams = [...names]
      .filter((n) => !visible || visible.has(n))
      .sort()
      .map((name) => {
        const team = deps.teams.find(name);
        const state = states.get(name);
        const active = state?.active ?? team?.active_environment ?? 'blue';
        return {
          team: name,
          configured: !!team,
          active,
          previous: state?.previous ?? null,
          lastKnownGood: state?.lastKnownGood ?? active,
          weights: state?.weights ?? (active === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 }),
          updatedAt: state?.updatedAt ?? null,
          haproxyBackend: team?.haproxy_backend ?? null,
          environments: team
            ? Object.fromEntries(
                Object.entries(team.environments).map(([env, e]) => [env, { webPort: e.web_port, agentPort: e.agent_port, url: e.url, server: e.server, container: e.container }]),
              )
            : null,
        };
      });
    res.json({ teams });
  });
}

/** Operations, locks, breakers and audit: each filtered to the teams the token may see. */
function addListRoutes(api: Router, deps: HttpAppDeps): void {
  api.get('/operations', async (req: Authed, res) => {
    const q = parseQuery(req, res);
    if (!q) return;
    const visible = visibleTeams(req.principal!);
    const ops = await deps.store.journal.list({ ...(q.team ? { team: q.team } : {}), ...(q.status ? { status: q.status as OperationStatus } : {}), limit: q.limit });
    res.json({ operations: ops.filter((o) => !visible || (o.team !== null && visible.has(o.team))) });
  });

  api.get('/locks', async (req: Authed, res) => {
    const q = parseQuery(req, res);
    if (!q) return;
    const visible = visibleTeams(req.principal!);
    res.json({ locks: await listVisibleLocks(deps.store, visible, q.team) });
  });

  api.get('/breakers', async (req: Authed, res) => {
    const q = parseQuery(req, res);
    if (!q) return;
    const visible = visibleTeams(req.principal!);
    res.json({ breakers: await listVisibleBreakers(deps.store, visible, q.team) });
  });

  api.get('/audit', async (req: Authed, res) => {
    const q = parseQuery(req, res);
    if (!q) return;
    const visible = visibleTeams(req.principal!);
    const entries = await deps.store.audit.list({ ...(q.team ? { team: q.team } : {}), ...(q.type ? { operationType: q.type } : {}), limit: q.limit });
    res.json(boundedPage(entries.filter((e) => !visible || (e.team !== null && visible.has(e.team)))));
  });
}

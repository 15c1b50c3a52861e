import type { Response } from 'express';
import type { Log } from '../log';
import { isSidecarError } from '../sidecar-error';
import { describeIssues } from './emergency-request';
import { httpStatusFor } from './http-status';
import { isOps, type DashboardIdentity } from './live-events';
import { switchControlRequest, type SwitchControlRequest } from './switch-control-request';

/** A refusal the dispatcher made before any handler ran (invalid params, unknown method), with its HTTP status. */
export class DashboardRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'DashboardRefusal';
  }
}

/** The part of the sidecar's Log port (agent/src/log.ts) the route writes to. */
type RouteLog = Pick<Log, 'warn' | 'error'>;

/**
 * POST /api/v1/switch-control: a person's pause / resume / promote / abort of a team's running
 * switch from the dashboard. Only the ops token may: a team's own pipeline steers its switch
 * through its steps (and sidecarctl), while the page's buttons are the on-call person's. The call
 * goes through the dispatcher like any RPC, so validation, per-team authorization and the audit
 * row (who, the reason) are the ones traffic.pause & co. have over JSON-RPC.
 */
export async function serveSwitchControl(
  run: (req: SwitchControlRequest, who: DashboardIdentity) => Promise<unknown>,
  log: RouteLog,
  who: DashboardIdentity,
  body: unknown,
  res: Response,
): Promise<void> {
  if (!isOps(who)) {
    res.status(403).json({ error: { code: 'FORBIDDEN', message: `token ${who.id} is not an ops token: pausing, resuming, promoting or aborting a switch from the dashboard needs the ops token (or sidecarctl with the team's token)` } });
    return;
  }
  const parsed = switchControlRequest.safeParse(body ?? {});
  if (!parsed.success) {
    res.status(400).json({ error: { code: 'INVALID_PARAMS', message: 'invalid switch-control request', fields: describeIssues(parsed.error) } });
    return;
  }
  const req = parsed.data;
  try {
    log.warn(`switch ${req.command} requested from the dashboard`, { token: who.id, team: req.team, reason: req.reason, ...(req.full ? { full: true } : {}), ...(req.hold ? { hold: true } : {}) });
    res.status(200).json({ ok: true, result: await run(req, who) });
  } catch (err) {
    if (err instanceof DashboardRefusal) {
      res.status(err.status).json({ error: { code: err.code, message: err.message, data: err.data } });
      return;
    }
    if (isSidecarError(err)) {
      res.status(httpStatusFor(err.code)).json({ error: { code: err.code, message: err.message, data: err.data } });
      return;
    }
    log.error(`switch ${req.command} from the dashboard failed`, { error: (err as Error).message });
    res.status(500).json({ error: { code: 'INTERNAL', message: `switch ${req.command} failed: ${(err as Error).message}; run \`sidecarctl ${req.command} --team ${req.team}\` on the host` } });
  }
}

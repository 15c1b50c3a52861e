import type { Router } from 'express';
import { liveEventsFromBus } from '../dashboard/bus-adapter';
import { createDashboardRouter } from '../dashboard/router';
import { switchControlCall } from '../dashboard/switch-control-request';
import { DashboardRefusal } from '../dashboard/switch-control-route';
import { SidecarError } from '../sidecar-error';
import { RpcFailure, type Dispatcher } from '../rpc/dispatcher';
import type { TokenAuthenticator } from '../rpc/token-auth';
import type { OperationRunner } from '../operations/runner';
import type { Running, SidecarContext } from './context';

/** The dashboard's routes; stopping closes its live event source. */
export interface Dashboard extends Running {
  router: Router;
}

/** The dashboard: live operation events from the runner's bus, and the emergency stop and switch control through the dispatcher (audited like any call). */
export function wireDashboard(ctx: SidecarContext, auth: TokenAuthenticator, runner: OperationRunner, dispatcher: Dispatcher): Dashboard {
  const { clock, log } = ctx;
  const events = liveEventsFromBus(runner.bus, clock);
  const router = createDashboardRouter({
    authenticate: (token) => {
      const a = auth.authenticate(`Bearer ${token}`);
      return a.ok ? { id: a.principal.tokenId, teams: a.principal.teams } : null;
    },
    events,
    emergencyStop: async (req, who) => {
      try {
        return await dispatcher.invoke('rollback.emergency', { ...req }, { principal: { tokenId: who.id, teams: who.teams }, signal: new AbortController().signal, progress: () => undefined });
      } catch (err) {
        if (err instanceof RpcFailure) throw new SidecarError('NOT_FOUND', `emergency stop is not available: ${err.message}`);
        throw err;
      }
    },
    switchControl: async (req, who) => {
      const { method, params } = switchControlCall(req);
      try {
        return await dispatcher.invoke(method, params, { principal: { tokenId: who.id, teams: who.teams }, signal: new AbortController().signal, progress: () => undefined });
      } catch (err) {
        if (err instanceof RpcFailure) throw new DashboardRefusal(err.body.code === -32602 ? 400 : 404, err.body.code === -32602 ? 'INVALID_PARAMS' : 'NOT_FOUND', err.message, err.body.data);
        throw err;
      }
    },
    log,
  });
  return { router, stop: async () => events.close() };
}

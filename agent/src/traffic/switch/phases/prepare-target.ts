import { SidecarError } from '../../../sidecar-error';
import { isAdminHeld, isServerUp } from '../../../haproxy/stats';
import { JOURNAL_STEP } from '../../journal-steps';
import { done, journaledStep } from '../../journaled-step';
import type { SwitchRun } from '../switch-run';

/** The target ready (out of maint/drain) and UP before it gets any weight; nothing has moved yet. */
export async function prepareTarget(run: SwitchRun): Promise<void> {
  const { deps, ctx, params, tb, target } = run;
  const server = tb.servers[target];
  const srv = run.setup.serversState.find((s) => s.backend === tb.web && s.server === server);
  const held = srv ? isAdminHeld(srv) : { maint: false, drain: false };
  if (held.maint || held.drain) {
    const from = held.maint ? 'maint' : 'drain';
    await journaledStep(deps.store.journal, run.opId, JOURNAL_STEP.prepareTarget, { server, from, to: 'ready' }, async () => {
      await deps.haproxy.setState(tb.web, server, 'ready');
      return done(undefined, { state: 'ready' });
    });
    ctx.progress({ phase: 'prepare', message: `${server} was in ${from}; set ready, waiting for its health checks` });
  }
  const deadline = ctx.clock.now().getTime() + params.readyTimeoutSec * 1000;
  for (;;) {
    const s = (await deps.haproxy.showStat()).find((x) => x.backend === tb.web && x.server === server);
    if (s && isServerUp(s)) return;
    if (ctx.clock.now().getTime() >= deadline || run.signal.aborted) {
      throw new SidecarError(
        'CONFLICT',
        `target ${server} is ${s?.status ?? 'missing'} (check: ${s?.checkStatus ?? '-'} ${s?.lastChk ?? ''}) after ${params.readyTimeoutSec}s; deploy or fix the ${target} environment first (environment.deploy / environment.validate). No traffic was moved`,
        { reason: 'target_not_ready', server, status: s?.status ?? null },
      );
    }
    await deps.sleep(200, run.signal);
  }
}

import { JOURNAL_STEP } from '../../journal-steps';
import { done, journaledStep } from '../../journaled-step';
import type { SwitchRun } from '../switch-run';

export interface Drained {
  sessionsAtMaint: number;
  waitedMs: number;
}

/** 100% validated: the old side drained (its open requests end), then maint. */
export async function drainOld(run: SwitchRun): Promise<Drained> {
  const { deps, ctx, params, tb } = run;
  const server = tb.servers[run.source];
  return journaledStep(deps.store.journal, run.opId, JOURNAL_STEP.drainOld, { server, timeoutSec: params.drainTimeoutSec }, async () => {
    await deps.haproxy.setState(tb.web, server, 'drain');
    ctx.progress({ phase: 'drain', message: `draining ${server}: people pinned to it moved at 100%; waiting for its open requests to end (up to ${params.drainTimeoutSec}s)` });
    const started = ctx.clock.now().getTime();
    let sessions = 0;
    for (;;) {
      sessions = (await deps.haproxy.showStat()).filter((s) => s.server === server && tb.backends.includes(s.backend)).reduce((n, s) => n + s.scur, 0);
      if (sessions === 0 || ctx.clock.now().getTime() - started >= params.drainTimeoutSec * 1000 || run.signal.aborted) break;
      await deps.sleep(200, run.signal);
    }
    // An emergency rollback may have sent traffic back to this side meanwhile: never maint it then.
    await run.checkHalted();
    await deps.haproxy.setState(tb.web, server, 'maint');
    const waitedMs = ctx.clock.now().getTime() - started;
    return done({ sessionsAtMaint: sessions, waitedMs }, { state: 'maint', sessionsAtMaint: sessions, waitedMs });
  });
}

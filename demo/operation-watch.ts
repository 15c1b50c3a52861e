/**
 * Follows the sidecar's operations journal for one team through the read API
 * (GET /api/v1/operations) and reports each new operation and each phase change,
 * which is how the demo shows what the pipeline set in motion and when to inject
 * its fault. Polls every `intervalMs` until stopped.
 */
export interface WatchedOperation {
  id: string;
  type: string;
  status: string;
  phase: string;
  error: { code: string; message: string } | null;
}

export interface OperationWatch {
  stop(): void;
}

export function watchOperations(opts: {
  httpUrl: string;
  token: string;
  team: string;
  intervalMs?: number;
  onChange: (op: WatchedOperation, first: boolean) => void;
}): OperationWatch {
  const seen = new Map<string, string>();
  let stopped = false;
  let busy = false;
  // Operations from before the watch started are not news.
  let primed = false;
  const poll = async (): Promise<void> => {
    if (busy || stopped) return;
    busy = true;
    try {
      const res = await fetch(`${opts.httpUrl}/api/v1/operations?team=${encodeURIComponent(opts.team)}&limit=10`, {
        headers: { Authorization: `Bearer ${opts.token}` },
        signal: AbortSignal.timeout(3000),
      });
      if (!res.ok) return;
      const body = (await res.json()) as { operations: WatchedOperation[] };
      for (const op of [...body.operations].reverse()) {
        const key = `${op.status}/${op.phase}`;
        const before = seen.get(op.id);
        if (before === key) continue;
        seen.set(op.id, key);
        if (primed && !stopped) opts.onChange(op, before === undefined);
      }
      primed = true;
    } catch {
      // The next poll tries again; a demo terminal should not fill with transient fetch errors.
    } finally {
      busy = false;
    }
  };
  void poll();
  const timer = setInterval(() => void poll(), opts.intervalMs ?? 250);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

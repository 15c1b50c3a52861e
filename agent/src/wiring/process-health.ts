/** A failure the process cannot recover from by itself, remembered for /healthz and told once to listeners. */
export interface ProcessHealth {
  fail(why: string): void;
  failure(): string | null;
  onFailure(listener: (why: string) => void): void;
}

export function processHealth(): ProcessHealth {
  let failed: string | null = null;
  const listeners: Array<(why: string) => void> = [];
  return {
    fail(why) {
      if (failed !== null) return;
      failed = why;
      for (const l of listeners) l(why);
    },
    failure: () => failed,
    onFailure(l) {
      if (failed !== null) l(failed);
      else listeners.push(l);
    },
  };
}

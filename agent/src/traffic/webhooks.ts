/**
 * Optional per-team webhooks around a switch (sidecar config, not call params:
 * a caller must not be able to make the sidecar POST anywhere). A failing
 * pre-switch hook stops the switch; the others are notifications whose
 * failures are only logged.
 */
export type WebhookEvent = 'pre-switch' | 'step' | 'promoted' | 'rolled-back' | 'paused' | 'resumed';

export interface TeamWebhooks {
  preSwitch?: string;
  step?: string;
  promoted?: string;
  rolledBack?: string;
}

export interface WebhookNotifier {
  /** Resolves when the hook answered 2xx (or none is configured); rejects otherwise. */
  notify(team: string, event: WebhookEvent, payload: Record<string, unknown>): Promise<void>;
}

// A person's pause and resume are steps of the switch's progress: they go to the step hook.
const KEY: Record<WebhookEvent, keyof TeamWebhooks> = { 'pre-switch': 'preSwitch', step: 'step', promoted: 'promoted', 'rolled-back': 'rolledBack', paused: 'step', resumed: 'step' };

export function httpWebhookNotifier(hooksFor: (team: string) => TeamWebhooks | undefined, timeoutMs = 5000): WebhookNotifier {
  return {
    async notify(team, event, payload) {
      const url = hooksFor(team)?.[KEY[event]];
      if (!url) return;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ team, event, ...payload }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) throw new Error(`webhook ${event} for team ${team} answered HTTP ${res.status}`);
    },
  };
}

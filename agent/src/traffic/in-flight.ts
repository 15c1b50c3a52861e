/**
 * The switches running in this process, by team, so an emergency rollback can
 * halt one at once (before it touches weights again) instead of waiting for
 * its next sample. Switches in other sidecars notice through Postgres: their
 * desired weights change under them (SwitchRun.checkHalted, switch/switch-run.ts).
 */
export interface InFlightSwitch {
  operationId: string;
  controller: AbortController;
  settled: Promise<void>;
}

/** What a switch and an emergency stop use of the registry (`noInFlight` where there is none). */
export interface InFlightRegistry {
  register(team: string, operationId: string): { signal: AbortSignal; done(): void };
  halt(team: string, reason: string, waitMs?: number): Promise<string | null>;
}

export class InFlightSwitches implements InFlightRegistry {
  private readonly byTeam = new Map<string, InFlightSwitch>();

  register(team: string, operationId: string): { signal: AbortSignal; done(): void } {
    const controller = new AbortController();
    let finish!: () => void;
    const settled = new Promise<void>((r) => (finish = r));
    this.byTeam.set(team, { operationId, controller, settled });
    return {
      signal: controller.signal,
      done: () => {
        if (this.byTeam.get(team)?.operationId === operationId) this.byTeam.delete(team);
        finish();
      },
    };
  }

  get(team: string): InFlightSwitch | undefined {
    return this.byTeam.get(team);
  }

  /** Halts the team's switch and waits (bounded) until it stopped touching HAProxy. */
  async halt(team: string, reason: string, waitMs = 500): Promise<string | null> {
    const s = this.byTeam.get(team);
    if (!s) return null;
    s.controller.abort(new Error(reason));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([s.settled, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    return s.operationId;
  }
}

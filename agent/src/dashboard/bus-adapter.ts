import type { Clock } from '../store/contract';
import type { LiveEvent, LiveEventSource } from './live-events';

/**
 * Turns the operation runner's event bus (agent/src/operations/event-bus.ts:
 * `started` with the journal record, `progress` and `finished` with only the
 * operation id) into the dashboard's LiveEvents, which name their team so the
 * stream can show each token only its teams. The bus is typed structurally
 * here so the dashboard does not depend on the runner's internals.
 *
 * Only operations run by THIS sidecar process reach the bus; operations of
 * other sidecars on the same database show up through the read API snapshot.
 */
export interface OperationBusLike {
  on(event: 'started', listener: (op: StartedOperation) => void): unknown;
  on(event: 'progress', listener: (e: BusProgress) => void): unknown;
  on(event: 'finished', listener: (e: BusFinished) => void): unknown;
  off(event: 'started', listener: (op: StartedOperation) => void): unknown;
  off(event: 'progress', listener: (e: BusProgress) => void): unknown;
  off(event: 'finished', listener: (e: BusFinished) => void): unknown;
}

export interface StartedOperation {
  id: string;
  type: string;
  team: string | null;
  phase: string;
  params: Record<string, unknown>;
  startedAt: Date;
}
export interface BusProgress {
  operationId: string;
  phase: string;
  message: string;
  [k: string]: unknown;
}
export interface BusFinished {
  operationId: string;
  status: string;
  error?: { code: string; message: string } | null;
}

/** Operations we remember the team of; far above what one sidecar runs at once. */
const MAX_TRACKED = 10_000;
/** Recent events kept for pages that reconnect (Last-Event-ID): a few minutes of a busy switch. */
export const REPLAY_EVENTS = 1_000;

export function liveEventsFromBus(bus: OperationBusLike, clock: Clock): Required<LiveEventSource> & { close(): void } {
  const known = new Map<string, { team: string | null; type: string; target?: string }>();
  const listeners = new Set<(e: LiveEvent) => void>();
  const recent: LiveEvent[] = [];
  let seq = 0;
  const emit = (event: LiveEvent): void => {
    const e: LiveEvent = { ...event, seq: ++seq };
    recent.push(e);
    if (recent.length > REPLAY_EVENTS) recent.shift();
    for (const l of listeners) {
      try {
        l(e);
      } catch {
        // One broken stream must not stop the others (or the runner that emitted).
      }
    }
  };
  const at = (): string => clock.now().toISOString();

  const onStarted = (op: StartedOperation): void => {
    const target = typeof op.params?.target === 'string' ? op.params.target : undefined;
    if (known.size >= MAX_TRACKED) known.delete(known.keys().next().value as string);
    known.set(op.id, { team: op.team, type: op.type, target });
    emit({
      kind: 'operation',
      operationId: op.id,
      team: op.team,
      type: op.type,
      status: 'running',
      phase: op.phase,
      target,
      startedAt: op.startedAt instanceof Date ? op.startedAt.toISOString() : String(op.startedAt),
      at: at(),
    });
  };
  const onProgress = (p: BusProgress): void => {
    const k = known.get(p.operationId);
    const { operationId, ...rest } = p;
    emit({ ...rest, kind: 'progress', operationId, team: k?.team ?? null, type: k?.type, target: k?.target, at: at() });
  };
  const onFinished = (f: BusFinished): void => {
    const k = known.get(f.operationId);
    known.delete(f.operationId);
    emit({
      kind: 'operation',
      operationId: f.operationId,
      team: k?.team ?? null,
      type: k?.type,
      status: f.status,
      message: f.error ? `${f.error.code}: ${f.error.message}` : undefined,
      at: at(),
    });
  };
  bus.on('started', onStarted);
  bus.on('progress', onProgress);
  bus.on('finished', onFinished);

  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    since(after) {
      if (after >= seq) return [];
      // The oldest kept event must directly follow `after`, or some were dropped.
      if (recent.length === 0 || (recent[0].seq as number) > after + 1) return null;
      return recent.filter((e) => (e.seq as number) > after);
    },
    close() {
      bus.off('started', onStarted);
      bus.off('progress', onProgress);
      bus.off('finished', onFinished);
      listeners.clear();
    },
  };
}

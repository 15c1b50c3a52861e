import { EventEmitter } from 'node:events';
import type { OperationRecord, OperationStatus } from '../store/contract';

/** A progress event as it goes to callers: always names its operation. */
export interface ProgressEvent {
  operationId: string;
  phase: string;
  message: string;
  [k: string]: unknown;
}

export interface OperationEnd {
  operationId: string;
  status: Exclude<OperationStatus, 'running'>;
  result?: unknown;
  error?: OperationRecord['error'];
}

interface BusEvents {
  started: [OperationRecord];
  progress: [ProgressEvent];
  finished: [OperationEnd];
}

/**
 * In-process fan-out of operation events: the runner publishes, attachers in
 * this process and the dashboard (dashboard/bus-adapter.ts) subscribe. Attachers in OTHER sidecar
 * processes follow the journal instead (runner.attach).
 */
export class OperationEventBus extends EventEmitter<BusEvents> {
  constructor() {
    super();
    // Every attached socket adds listeners; the count is bounded by the per-token limits, not by this.
    this.setMaxListeners(0);
  }
}

import { SidecarError } from '../sidecar-error';

/**
 * Thrown by an operation body that must outlive this process as it is: the
 * runner does not end its journal row, which stays running and owned by this
 * instance, so the next start's recovery takes it up. A paused switch at a
 * graceful stop is one: rolling it back would undo what a person chose to hold.
 */
export class LeftForRecovery extends SidecarError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('DEPENDENCY_DOWN', message, data);
  }
}

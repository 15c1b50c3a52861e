import { CONFLICT_REASONS, isConflictReason, isOperationOutcome } from '../../catalog/error-codes';
import { toSidecarError } from '../../agent/src/operations/runner';
import { reasonOf, SidecarError } from '../../agent/src/sidecar-error';

describe('SidecarError reasons and outcomes', () => {
  it("a CONFLICT carries its reason in data, where the wire sends it", () => {
    const err = new SidecarError('CONFLICT', 'cannot stop devops/blue: it carries traffic', { reason: 'target_serving', team: 'devops' });
    expect(err.reason).toBe('target_serving');
    expect(err.toJSON()).toEqual({ code: 'CONFLICT', message: 'cannot stop devops/blue: it carries traffic', data: { reason: 'target_serving', team: 'devops' } });
    expect(reasonOf(err)).toEqual({ reason: 'target_serving' });
  });

  it('another code has no CONFLICT reason, even with a data.reason of its own', () => {
    const down = new SidecarError('DEPENDENCY_DOWN', 'Jenkins blue did not answer', { reason: 'unavailable' });
    expect(down.reason).toBeUndefined();
    expect(reasonOf(down)).toEqual({});
    expect(reasonOf(new Error('plain'))).toEqual({});
  });

  it('an outcome is typed on the error and sent as data.operationStatus', () => {
    const err = new SidecarError('SLI_BREACH', 'rolled back', { step: 25, operationStatus: 'failed' }, { outcome: 'rolled_back' });
    expect(err.outcome).toBe('rolled_back');
    expect(err.data).toEqual({ step: 25, operationStatus: 'rolled_back' });
    expect(new SidecarError('TIMEOUT', 't').outcome).toBeUndefined();
  });

  it('a journaled error read back keeps its reason and gets its outcome typed again', () => {
    const halted = toSidecarError({ code: 'CONFLICT', message: 'switch halted', data: { reason: 'halted', operationStatus: 'aborted' } }, 'op-1');
    expect(halted).toMatchObject({ code: 'CONFLICT', reason: 'halted', outcome: 'aborted', data: { operationId: 'op-1' } });
    const odd = toSidecarError({ code: 'NO_SUCH_CODE', message: 'from elsewhere' }, 'op-2');
    expect(odd.code).toBe('DEPENDENCY_DOWN');
    expect(odd.message).toContain('NO_SUCH_CODE');
    expect(toSidecarError(undefined, 'op-3')).toMatchObject({ code: 'CONFLICT', reason: 'ended_without_result' });
  });

  it('the reason and outcome lists are closed: anything else is refused', () => {
    expect(Object.keys(CONFLICT_REASONS).every((r) => /^[a-z][a-z0-9_]{0,39}$/.test(r))).toBe(true);
    expect(isConflictReason('halted')).toBe(true);
    expect(isConflictReason('toString')).toBe(false);
    expect(isConflictReason('HALTED')).toBe(false);
    expect(isOperationOutcome('rolled_back')).toBe(true);
    expect(isOperationOutcome('succeeded')).toBe(false);
  });
});

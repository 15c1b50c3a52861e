/**
 * What `sidecarctl emergency-stop` says beside the JSON result when the
 * sidecar moved the traffic without PostgreSQL (rollback.emergency answered
 * recordsDeferred: true): the traffic is safe, the records are not yet.
 */
export function emergencyStopNote(result: unknown): string | null {
  if (!result || typeof result !== 'object') return null;
  const r = result as { recordsDeferred?: unknown; active?: unknown; operationId?: unknown };
  if (r.recordsDeferred !== true) return null;
  const side = typeof r.active === 'string' ? r.active : 'the target side';
  const op = typeof r.operationId === 'string' ? ` (operation ${r.operationId})` : '';
  return (
    `sidecarctl: note: PostgreSQL was unreachable. All traffic is on ${side} now (HAProxy), but the operation${op}, its journal, ` +
    'the desired weights, the promote and the audit record are written only when the database answers again ' +
    '(the sidecar retries on its own; the reconcile loop leaves the team alone until then). ' +
    'Check with `sidecarctl call traffic.status` and `sidecarctl audit` once /readyz reports postgres up.\n'
  );
}

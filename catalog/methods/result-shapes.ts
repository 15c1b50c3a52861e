import { z } from 'zod';
import { ENVIRONMENTS } from '../teams-file';

/**
 * Pieces of answers several methods share, as they travel (JSON: times are
 * ISO-8601 strings, absent values null). Used by the result schemas in
 * core.ts, traffic.ts and environment.ts.
 */
export const environmentName = z.enum(ENVIRONMENTS);
export const isoTime = z.iso.datetime().describe('ISO-8601 time');
export const weightsResult = z.object({ blue: z.number().int().min(0), green: z.number().int().min(0) });
export const OPERATION_STATUSES = ['running', 'succeeded', 'failed', 'rolled_back', 'aborted'] as const;

export const lockGrantResult = z.object({
  lockName: z.string().describe('`<team>:<operation>`'),
  token: z.number().int().positive().describe('fencing token; pass it to lock.release / lock.renew and to operations that need the lock'),
  expiresAt: isoTime.describe('ISO-8601 time the lease ends unless renewed'),
  holder: z.string().describe('the owner holding the lock'),
});

export const breakerResult = z.object({
  name: z.string().describe('e.g. infrastructure_modification:<team>'),
  state: z.enum(['closed', 'open', 'half_open']),
  failures: z.number().int().min(0).describe('failures within the window'),
  openedAt: isoTime.nullable(),
  retryAt: isoTime.nullable(),
});

export const operationSummaryResult = z.object({
  id: z.string(),
  type: z.string().describe('the RPC method, e.g. traffic.switch'),
  team: z.string().nullable(),
  status: z.enum(OPERATION_STATUSES),
  phase: z.string(),
  initiatedBy: z.string(),
  ownerInstance: z.string().describe('the sidecar that runs it'),
  startedAt: isoTime,
});

export const operationErrorResult = z.object({ code: z.string(), message: z.string(), data: z.unknown().optional() });

export const operationRecordResult = operationSummaryResult
  .extend({
    idempotencyKey: z.string().nullable(),
    params: z.record(z.string(), z.unknown()),
    result: z.unknown().describe('the result once it succeeded'),
    error: operationErrorResult.nullable(),
    completedAt: isoTime.nullable(),
    steps: z.array(
      z.object({
        seq: z.number().int(),
        name: z.string(),
        intent: z.record(z.string(), z.unknown()).describe('written before the side effect'),
        outcome: z.enum(['pending', 'done', 'failed']),
        result: z.record(z.string(), z.unknown()).nullable().describe('written after it'),
        at: isoTime,
      }),
    ),
  })
  .describe('the journal record: id, type, team, status, phase, params, result, error, steps, startedAt, completedAt');

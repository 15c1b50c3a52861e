import { z } from 'zod';
import { ENVIRONMENTS, TEAM_NAME_PATTERN } from '../../../catalog/teams-file';

/**
 * The body of `POST /api/v1/emergency-stop`, the dashboard's button. It is
 * the same request as the RPC `rollback.emergency` (browsers cannot put a
 * bearer token on a WebSocket upgrade, so the page cannot speak /rpc).
 */
export const emergencyStopRequest = z
  .object({
    team: z.string().regex(TEAM_NAME_PATTERN, 'expected a team name (lower-case letters, digits, - or _)'),
    reason: z
      .string()
      .trim()
      .min(3, 'say why (at least 3 characters): it goes into the audit trail')
      .max(500)
      .refine((s) => ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), 'no control characters'),
    target: z.enum(ENVIRONMENTS).optional(),
  })
  .strict();

export type EmergencyStopRequest = z.output<typeof emergencyStopRequest>;

/** zod issues as `field: message` lines, the way the RPC reports -32602. */
export function describeIssues(error: z.ZodError): Array<{ field: string; message: string }> {
  return error.issues.map((i) => ({ field: i.path.map(String).join('.') || '(body)', message: i.message }));
}

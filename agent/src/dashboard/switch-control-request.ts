import { z } from 'zod';
import { TEAM_NAME_PATTERN } from '../../../catalog/teams-file';
import { emergencyStopRequest } from './emergency-request';

/**
 * The body of `POST /api/v1/switch-control`, the dashboard's Pause / Resume /
 * Promote / Promote to 100% / Abort / Abort and hold buttons: one of the
 * traffic.pause/resume/promote/abort calls (catalog/methods/traffic-control.ts),
 * which the dispatcher validates again against the method's own params.
 */
export const SWITCH_COMMANDS = ['pause', 'resume', 'promote', 'abort'] as const;
export type SwitchCommandName = (typeof SWITCH_COMMANDS)[number];

export const switchControlRequest = z
  .object({
    team: z.string().regex(TEAM_NAME_PATTERN, 'expected a team name (lower-case letters, digits, - or _)'),
    command: z.enum(SWITCH_COMMANDS),
    reason: emergencyStopRequest.shape.reason,
    /** The switch the page was showing: refused when the team's running switch is another one. */
    operationId: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'expected an operation id').optional(),
    /** promote only: straight to 100%. */
    full: z.boolean().optional(),
    /** abort only: keep the weights, end the switch aborted. */
    hold: z.boolean().optional(),
  })
  .strict()
  .refine((r) => r.full === undefined || r.command === 'promote', { message: 'full is for promote only', path: ['full'] })
  .refine((r) => r.hold === undefined || r.command === 'abort', { message: 'hold is for abort only', path: ['hold'] });

export type SwitchControlRequest = z.output<typeof switchControlRequest>;

/** The RPC method and params a request stands for. */
export function switchControlCall(r: SwitchControlRequest): { method: `traffic.${SwitchCommandName}`; params: Record<string, unknown> } {
  const params: Record<string, unknown> = { team: r.team, reason: r.reason, ...(r.operationId ? { operationId: r.operationId } : {}) };
  if (r.command === 'promote') params.full = r.full === true;
  if (r.command === 'abort') params.hold = r.hold === true;
  return { method: `traffic.${r.command}`, params };
}

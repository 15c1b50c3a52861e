import { runningSwitchResult, switchControlResult } from '../../catalog/methods/traffic-control';
import { controlParams, describeControlAnswer, runningSwitchNote } from '../../agent/src/cli/ctl-switch-control';
import { EXIT, runSidecarctl } from '../../agent/src/cli/sidecarctl';

async function run(args: string[]) {
  let out = '';
  let err = '';
  const code = await runSidecarctl(args, { env: { SIDECAR_TOKEN: 'x'.repeat(20), SIDECAR_URL: 'ws://127.0.0.1:9/rpc' }, stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

describe('sidecarctl pause / resume / promote / abort: the command line', () => {
  it('a missing --reason or --team, or a bad --max-pause, is a usage error before any connection', async () => {
    const noReason = await run(['pause', '--team', 'devops']);
    expect(noReason.code).toBe(EXIT.USAGE);
    expect(noReason.err).toContain('--reason is required: say why you pause the switch');
    expect((await run(['abort', '--reason', 'why not'])).code).toBe(EXIT.USAGE);
    const badMax = await run(['pause', '--team', 'devops', '--reason', 'look', '--max-pause', '2h']);
    expect(badMax.code).toBe(EXIT.USAGE);
    expect(badMax.err).toContain("--max-pause must be seconds from 1 to 86400, got '2h'");
    expect((await run(['resume', '--team', 'devops', '--reason', 'go', '--full'])).code).toBe(EXIT.USAGE);
    // A hint a person may paste never carries what was typed as the team unless it is a team name.
    const odd = await run(['pause', '--team', 'devops; rm -rf /']);
    expect(odd.err).toContain('sidecarctl pause --team <team> --reason');
  });

  it('maps the flags onto each method’s params, and those are what the catalog accepts', () => {
    expect(controlParams('pause', { team: 'devops', reason: ' 5xx ', maxPause: '600', operation: 'op-1' })).toEqual({ team: 'devops', reason: '5xx', operationId: 'op-1', maxPauseSec: 600 });
    expect(controlParams('promote', { team: 'devops', reason: 'go', full: true })).toEqual({ team: 'devops', reason: 'go', full: true });
    expect(controlParams('abort', { team: 'devops', reason: 'stop' })).toEqual({ team: 'devops', reason: 'stop', hold: false });
    expect(controlParams('resume', { team: 'devops', reason: 'fine' })).toEqual({ team: 'devops', reason: 'fine' });
  });
});

const pausedAnswer = switchControlResult.parse({
  operationId: 'op-7',
  team: 'devops',
  command: 'pause',
  state: 'paused',
  by: 'ops',
  reason: '5xx on green',
  at: '2026-12-02T03:00:00.000Z',
  taken: true,
  percent: 25,
  weights: { blue: 75, green: 25 },
  pause: { since: '2026-12-02T03:00:00.000Z', by: 'ops', reason: '5xx on green', maxPauseSec: 3600, endsAt: '2026-12-02T04:00:00.000Z' },
});

describe('what a person reads after a command', () => {
  it('after a pause: where it holds, until when, taken, and the commands to go on', () => {
    const text = describeControlAnswer(pausedAnswer);
    expect(text).toContain('Paused: the switch of devops (operation op-7) at 25% (weights blue 75, green 25), by ops: 5xx on green');
    expect(text).toContain('State: paused since 2026-12-02T03:00:00.000Z by ops; if nobody resumes it, it rolls back at 2026-12-02T04:00:00.000Z (max pause 3600 s)');
    expect(text).toContain('Taken: yes');
    expect(text).toContain('resume with:     sidecarctl resume --team devops --reason "<why>"');
    expect(text).not.toContain('emergency-stop');
  });

  it('a command not yet taken says so; an abort points at the emergency stop', () => {
    const text = describeControlAnswer({ ...pausedAnswer, command: 'abort', state: 'abort-requested', taken: false, pause: null, percent: null, weights: null });
    expect(text).toContain('Abort asked for: the switch of devops (operation op-7) before its first step, by ops');
    expect(text).toContain('Taken: not yet; the switch acts at its next checkpoint');
    expect(text).toContain('if it goes wrong: sidecarctl emergency-stop --team devops --reason "<why>"');
  });
});

describe('sidecarctl status --team: the running switch', () => {
  const running = runningSwitchResult.parse({
    operationId: 'op-7',
    target: 'green',
    phase: 'paused',
    percent: 50,
    weights: { blue: 50, green: 50 },
    control: 'paused',
    pause: { since: '2026-12-02T03:00:00.000Z', by: 'approval gate', reason: 'step 50% waits for approval', maxPauseSec: null, endsAt: null, gate: 50 },
    initiatedBy: 'devops/Infrastructure/Self-Managed-Blue-Green-Switch#41',
    ownerInstance: 'host-a',
    startedAt: '2026-12-02T02:58:00.000Z',
  });

  it('names the switch, its phase and who holds it, and how to resume', () => {
    const note = runningSwitchNote('devops', { active: 'blue', switch: running });
    expect(note).toContain('running switch op-7 to green at 50%, phase paused, control paused, on sidecar host-a');
    expect(note).toContain('waiting at the approval gate of step 50% since 2026-12-02T03:00:00.000Z by approval gate');
    expect(note).not.toContain('rolls back at');
    expect(note).toContain('resume with: sidecarctl resume --team devops --reason "<why>"');
  });

  it('says nothing when no switch runs or the sidecar does not report one', () => {
    expect(runningSwitchNote('devops', { active: 'blue', switch: null })).toBeNull();
    expect(runningSwitchNote('devops', { active: 'blue' })).toBeNull();
  });
});

import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { emergencyStopNote } from './emergency-stop-note';
import { addPlanCommands } from './ctl-plan';
import { parseJsonObject, UsageError } from './ctl-output';
import type { CtlSession } from './ctl-session';
import { runningSwitchNote } from './ctl-switch-control';

export { addSwitchControlCommands } from './ctl-switch-control';

/** `call <method>`: one RPC, params from --params or --params-file. */
export function addCallCommand(program: Command, s: CtlSession): void {
  program
    .command('call')
    .description('one RPC: progress to stderr, the JSON result to stdout (or --result-file)')
    .argument('<method>', 'e.g. lock.acquire')
    .addOption(new Option('--params <json>', 'params as a JSON object').conflicts('paramsFile'))
    .option('--params-file <file>', 'read params from a JSON file')
    .option('--result-file <file>', 'write the JSON result (or {"error":...}) to this file')
    .action(async (method: string, o: { params?: string; paramsFile?: string; resultFile?: string }) => {
      if (!/^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$/.test(method)) throw new UsageError(`'${method}' is not a method name such as lock.acquire`);
      await s.rpc(method, callParams(o), o.resultFile);
    });
}

function callParams(o: { params?: string; paramsFile?: string }): Record<string, unknown> {
  if (o.params !== undefined) return parseJsonObject(o.params, '--params');
  if (o.paramsFile === undefined) return {};
  let text: string;
  try {
    text = readFileSync(o.paramsFile, 'utf8');
  } catch (err) {
    throw new UsageError(`--params-file ${o.paramsFile}: cannot read: ${(err as Error).message}`);
  }
  return parseJsonObject(text, `--params-file ${o.paramsFile}`);
}

/** The ops shortcuts: status, locks, audit, plan (and switch --dry-run). */
export function addReadCommands(program: Command, s: CtlSession): void {
  addPlanCommands(program, s);
  program
    .command('status')
    .description("a team's environments (environment.status), or every team (GET /api/v1/teams)")
    .option('--team <team>', 'one team')
    .action(async (o: { team?: string }) => {
      const team = o.team;
      if (!team) return s.rest('/api/v1/teams');
      return s.rpc('environment.status', { team, containers: true }, undefined, (status) => {
        const note = runningSwitchNote(team, status);
        if (note) s.io.stderr(note);
      });
    });

  program
    .command('locks')
    .description('live locks (lock.list)')
    .option('--team <team>', 'one team')
    .action(async (o: { team?: string }) => s.rpc('lock.list', o.team ? { team: o.team } : {}));

  program
    .command('audit')
    .description('the audit trail, newest first (GET /api/v1/audit)')
    .option('--team <team>', 'one team')
    .option('--limit <n>', 'how many entries', '50')
    .action(async (o: { team?: string; limit: string }) => {
      if (!/^\d{1,4}$/.test(o.limit) || Number(o.limit) < 1) throw new UsageError(`--limit must be a number from 1 to 1000, got '${o.limit}'`);
      const q = new URLSearchParams({ limit: o.limit, ...(o.team ? { team: o.team } : {}) });
      await s.rest(`/api/v1/audit?${q.toString()}`);
    });
}

export function addEmergencyStopCommand(program: Command, s: CtlSession): void {
  program
    .command('emergency-stop')
    .description('stop whatever runs for the team and put traffic back on the last known good side (rollback.emergency)')
    .requiredOption('--team <team>', 'the team')
    .requiredOption('--reason <reason>', 'why (goes to the audit trail)')
    .option('--target <env>', 'blue or green (default: last known good)')
    .action(async (o: { team: string; reason: string; target?: string }) =>
      s.rpc('rollback.emergency', { team: o.team, reason: o.reason, ...(o.target ? { target: o.target } : {}) }, undefined, (result) => {
        const note = emergencyStopNote(result);
        if (note) s.io.stderr(note);
      }),
    );
}

export function addDoctorCommand(program: Command, s: CtlSession): void {
  program
    .command('doctor')
    .description('check this host for the sidecar: config, token file permissions, PostgreSQL and clock skew, HAProxy admin socket, Docker, versions (exit 1 when something must be fixed)')
    .option('--config <file>', 'the YAML config the sidecar is started with (jenkins-sidecar --config)')
    .option('--json', 'print the checks as JSON')
    .option('--skip-sidecar', 'do not ask a running sidecar for /readyz')
    .action(async (o: { config?: string; json?: boolean; skipSidecar?: boolean }) => {
      // Loaded only here: the doctor needs pg, dockerode and yaml, which every pipeline step's call must not pay for.
      const { doctorCommand } = require('../doctor/command') as typeof import('../doctor/command');
      s.exitCode = await doctorCommand({ config: o.config, json: o.json, skipSidecar: o.skipSidecar, env: s.io.env, write: s.io.stdout });
    });
}

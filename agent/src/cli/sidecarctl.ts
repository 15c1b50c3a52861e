import { Command, CommanderError } from 'commander';
import { addCallCommand, addDoctorCommand, addEmergencyStopCommand, addReadCommands, addSwitchControlCommands } from './ctl-commands';
import { type CtlIO, EXIT, UsageError } from './ctl-output';
import { createSession } from './ctl-session';

export { type CtlIO, EXIT, httpBase, symbolicCode } from './ctl-output';

/**
 * sidecarctl: the client the generated Groovy steps shell out to, and the ops
 * CLI. Exit codes (the steps rely on them): 0 ok, 2 usage (incl. bad JSON),
 * 3 the sidecar answered with an error (its symbolic code, and the reason when
 * it has one, printed on stderr; with --result-file the file holds
 * {"error": {...}}), 4 cannot connect or authenticate. A call carrying an
 * idempotencyKey is retried (re-attached) when the connection fails or drops,
 * for up to SIDECARCTL_RECONNECT_SEC (default 120). It starts in every pipeline
 * step, so it loads only commander, ws and node builtins.
 */
export async function runSidecarctl(argv: string[], io: CtlIO): Promise<number> {
  const session = createSession(io);
  const program = new Command('sidecarctl')
    .description('Talk to the jenkins-sidecar (SIDECAR_URL, default ws://127.0.0.1:8765/rpc; token from SIDECAR_TOKEN)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError(false);
  addCallCommand(program, session);
  addReadCommands(program, session);
  addEmergencyStopCommand(program, session);
  addSwitchControlCommands(program, session);
  addDoctorCommand(program, session);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return session.exitCode;
  } catch (err) {
    return exitFor(err, io);
  }
}

function exitFor(err: unknown, io: CtlIO): number {
  // --help / --version are "errors" to commander but not to the user.
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  io.stderr(`sidecarctl: ${(err as Error)?.message ?? String(err)}\n`);
  return err instanceof UsageError ? EXIT.USAGE : EXIT.CONNECT;
}

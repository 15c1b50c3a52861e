#!/usr/bin/env node
/** `sidecarctl`: see agent/src/cli/sidecarctl.ts. Only this file touches the process. */
import { runSidecarctl } from '../cli/sidecarctl';

runSidecarctl(process.argv.slice(2), {
  env: process.env,
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`sidecarctl: ${err.message}\n`);
    process.exitCode = 4;
  },
);

#!/usr/bin/env node
import { readFileSync, statSync } from 'node:fs';
import { TEAMS_FILE_MAX_BYTES } from '../../../catalog/teams-file';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { compareWithDisk, hasDrift, writePlan, type Drift } from '../apply-plan';
import { planFromTeamsText } from '../plan';
import { loadTemplates } from '../template-source';
import { smokeCommand, type SmokeCommandOptions } from '../smoke/smoke-command';
import { verifyTeamsText } from '../verify/verify-command';

/** Entry point: the only place that touches the process (exit codes, stdout). */
function describe(d: Drift): string[] {
  return [...d.missing.map((p) => `missing: ${p}`), ...d.changed.map((p) => `differs: ${p}`), ...d.extra.map((p) => `not generated: ${p}`)];
}

function build(opts: { teams: string; out: string; check?: boolean; templates?: string }): number {
  let text: string;
  try {
    const size = statSync(opts.teams).size;
    if (size > TEAMS_FILE_MAX_BYTES) {
      process.stderr.write(`library-gen: ${opts.teams}: ${size} bytes; a teams file is at most ${TEAMS_FILE_MAX_BYTES} bytes\n`);
      return 1;
    }
    text = readFileSync(opts.teams, 'utf8');
  } catch (err) {
    process.stderr.write(`library-gen: ${opts.teams}: cannot read: ${(err as Error).message}\n`);
    return 1;
  }
  const templates = loadTemplates(opts.templates ? resolve(opts.templates) : undefined);
  const result = planFromTeamsText(text, opts.teams, templates);
  if (!result.ok) {
    for (const e of result.errors) process.stderr.write(`library-gen: ${e}\n`);
    process.stderr.write('library-gen: nothing written\n');
    return 1;
  }
  const out = resolve(opts.out);
  if (opts.check) {
    const drift = compareWithDisk(out, result.plan);
    if (hasDrift(drift)) {
      for (const line of describe(drift)) process.stderr.write(`library-gen: ${line}\n`);
      process.stderr.write(`library-gen: ${out} is not what ${opts.teams} generates; run library-gen build without --check\n`);
      return 1;
    }
    process.stdout.write(`library-gen: ${out} is up to date (${result.plan.size} files)\n`);
    return 0;
  }
  const changed = writePlan(out, result.plan);
  process.stdout.write(
    `library-gen: ${result.plan.size} files for ${result.teams.length} team(s) in ${out} (${changed.missing.length} new, ${changed.changed.length} changed, ${changed.extra.length} removed)\n`,
  );
  return 0;
}

const program = new Command('library-gen').description('Render the jenkins-selfmanage shared library, Jenkinsfiles, Job DSL and configuration from the step catalog and a teams file.');
program
  .command('build')
  .description('generate everything into --out (or, with --check, fail when --out differs)')
  .requiredOption('--teams <file>', 'teams file (the jenkins_teams: YAML list)')
  .requiredOption('--out <dir>', 'output directory')
  .option('--check', 'compare instead of writing; exit 1 on any difference')
  .option('--templates <dir>', 'installation root holding library-gen/templates/ (default: this installation)')
  .action((opts) => {
    process.exitCode = build(opts);
  });
program
  .command('verify')
  .description('check that what build generates works on the pinned Jenkins: plugins, JCasC keys and lookups, variables and files deploy provides, agent labels, mounts')
  .requiredOption('--teams <file>', 'teams file (the jenkins_teams: YAML list)')
  .option('--templates <dir>', 'installation root holding library-gen/templates/ (default: this installation)')
  .option('--json', 'print the result as one JSON object on stdout ({ok, teams, lines, byTeam}; sidecarctl doctor reads it)')
  .action((opts: { teams: string; templates?: string; json?: boolean }) => {
    let text: string;
    try {
      text = readFileSync(opts.teams, 'utf8');
    } catch (err) {
      process.stderr.write(`library-gen: ${opts.teams}: cannot read: ${(err as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
    const r = verifyTeamsText(text, opts.teams, loadTemplates(opts.templates ? resolve(opts.templates) : undefined));
    process.exitCode = r.ok ? 0 : 1;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return;
    }
    for (const line of r.lines) process.stderr.write(`library-gen: ${line}\n`);
    if (r.ok) process.stdout.write(`library-gen: ${opts.teams}: ${r.teams} self-managed team(s) conform to the pinned Jenkins\n`);
  });
program
  .command('smoke')
  .description('on a machine that can pull images: build the team image, start a throw-away blue, check over REST that the library, the Infrastructure jobs and the coordination agent are there')
  .requiredOption('--teams <file>', 'teams file')
  .requiredOption('--team <name>', 'the team to smoke-test')
  .option('--base-image <image>', 'FROM instead of jenkins_base_image (a registry mirror)')
  .option('--secrets-root <dir>', 'host root of the team secrets (default: SIDECAR_CONTROLLER_SECRETS_ROOT, as the sidecar)')
  .option('--library-dir <dir>', 'host directory of a file:// library (default: SIDECAR_CONTROLLER_LIBRARY_DIR, else its own path)')
  .option('--port <n>', 'web port of the throw-away controller (default: a free one)')
  .option('--agent-port <n>', 'agent port (default: a free one)')
  .option('--timeout <sec>', 'how long to wait for Jenkins, the seed job and the agent (default 600)')
  .option('--keep', 'leave the container, volume and image for a look afterwards')
  .option('--templates <dir>', 'installation root holding library-gen/templates/ (default: this installation)')
  .action(async (opts: SmokeCommandOptions) => {
    process.exitCode = await smokeCommand(opts, (l) => process.stdout.write(`library-gen smoke: ${l}\n`));
  });
program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`library-gen: ${(err as Error).message}\n`);
  process.exitCode = 1;
});

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { METHODS } from '../../catalog/methods';
import { TRANSPORT_PARAMS } from '../../catalog/methods/core';
import { defaultAnswers } from './fake-answers';
import { FAKE_SIDECARCTL, readCalls, type Scenario } from './harness-runner';

/** A team, a build and per-scenario fake-sidecarctl files, for harness tests without a live sidecar. */
export class FakeWorld {
  readonly team = `devops-${randomBytes(3).toString('hex')}`;
  readonly job = `${this.team}/Infrastructure/Self-Managed-Blue-Green-Switch`;
  readonly buildNumber = '7';
  readonly build = `${this.job}#${this.buildNumber}`;
  readonly secret = randomBytes(12).toString('hex');
  private readonly dirs = new Map<string, string>();

  constructor(readonly root: string) {}

  teamsYaml(): string {
    return ['jenkins_teams:', `  - team_name: ${this.team}`, '    active_environment: blue', '    self_management_enabled: true', '    web_port: 18080', '    agent_port: 51000', ''].join('\n');
  }

  /** A scenario whose sidecarctl answers come from the defaults overridden by `answers`. */
  scenario(name: string, s: Omit<Scenario, 'name'>, answers: Record<string, unknown> = {}, env: Record<string, string> = {}): Scenario {
    const dir = join(this.root, `fake-${this.dirs.size}`);
    mkdirSync(dir, { recursive: true });
    this.dirs.set(name, dir);
    writeFileSync(join(dir, 'answers.json'), JSON.stringify({ ...defaultAnswers(this.team, this.build), ...answers }));
    return {
      name,
      team: this.team,
      ...s,
      env: {
        JOB_NAME: this.job,
        BUILD_NUMBER: this.buildNumber,
        JENKINS_URL: 'http://127.0.0.1:18080/',
        SIDECARCTL: FAKE_SIDECARCTL,
        FAKE_SIDECAR_LOG: join(dir, 'calls.jsonl'),
        FAKE_SIDECAR_ANSWERS: join(dir, 'answers.json'),
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...env,
        ...(s.env ?? {}),
      },
      credentials: s.credentials ?? { 'sidecar-token': this.secret },
    };
  }

  calls(name: string): { method: string; params: Record<string, unknown>; token: boolean; url: string | null }[] {
    const dir = this.dirs.get(name);
    if (!dir) throw new Error(`no scenario ${name}`);
    return readCalls(join(dir, 'calls.jsonl'));
  }
}

/**
 * The params a step sent, checked with the sidecar's own zod schema (what the live
 * sidecar would accept). Returns the problems; methods without a schema yet are
 * reported by name so a test can tell.
 */
export function schemaProblems(call: { method: string; params: Record<string, unknown> }): string[] {
  const spec = METHODS.get(call.method);
  if (!spec) return [`${call.method}: no schema in catalog/methods yet`];
  const { build, idempotencyKey, ...rest } = call.params;
  const problems: string[] = [];
  const transport = TRANSPORT_PARAMS.build.safeParse(build);
  if (!transport.success) problems.push(`${call.method}: build ${String(build)}: ${transport.error.message}`);
  const key = TRANSPORT_PARAMS.idempotencyKey.safeParse(idempotencyKey);
  if (!key.success) problems.push(`${call.method}: idempotencyKey ${String(idempotencyKey)}: ${key.error.message}`);
  const r = spec.params.safeParse(rest);
  if (!r.success) problems.push(...r.error.issues.map((i) => `${call.method}: ${i.path.join('.')}: ${i.message}`));
  return problems;
}

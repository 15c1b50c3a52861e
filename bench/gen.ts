import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePlan } from '../library-gen/src/apply-plan';
import { planFromTeamsText } from '../library-gen/src/plan';
import { loadTemplates } from '../library-gen/src/template-source';

/**
 * library-gen: time to plan (render everything in memory) and to write the
 * output, for 1, 100 and 1,000 teams. Baseline: the same teams file parsed
 * only (the floor any generator pays). Prints figures; asserts nothing.
 */
function teamsYaml(n: number): string {
  const lines = ['jenkins_teams:'];
  for (let i = 0; i < n; i++) {
    // Green is blue + 100: give each hundred teams its own 200-port block.
    const offset = (i % 100) + Math.floor(i / 100) * 200;
    lines.push(
      `  - team_name: team${i}`,
      `    active_environment: ${i % 2 ? 'green' : 'blue'}`,
      '    self_management_enabled: true',
      `    web_port: ${10000 + offset}`,
      `    agent_port: ${30000 + offset}`,
    );
  }
  return lines.join('\n') + '\n';
}

const ms = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  const templates = loadTemplates();
  const rows: { metric: string; ours: number; baseline: number; unit: string }[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'jsm-bench-gen-'));
  try {
    planFromTeamsText(teamsYaml(1), 'warmup.yml', templates); // compile templates once
    for (const n of [1, 100, 1000]) {
      const text = teamsYaml(n);
      const runs = n >= 1000 ? 3 : 5;
      const plans: number[] = [];
      const writes: number[] = [];
      let files = 0;
      let bytes = 0;
      for (let r = 0; r < runs; r++) {
        const t0 = process.hrtime.bigint();
        const result = planFromTeamsText(text, `teams-${n}.yml`, templates);
        plans.push(ms(t0));
        if (!result.ok) throw new Error(result.errors.join('\n'));
        files = result.plan.size;
        bytes = [...result.plan.values()].reduce((a, t) => a + Buffer.byteLength(t), 0);
        const out = join(scratch, `out-${n}-${r}`);
        const t1 = process.hrtime.bigint();
        writePlan(out, result.plan);
        writes.push(ms(t1));
      }
      const parseOnly: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t0 = process.hrtime.bigint();
        // A teams file with no teams fails fast after parsing: the YAML + schema floor.
        planFromTeamsText(text.replace(/team_name: team/g, 'team_name: Team'), `teams-${n}.yml`, templates);
        parseOnly.push(ms(t0));
      }
      const plan = median(plans);
      const write = median(writes);
      console.log(`${String(n).padStart(5)} teams: plan ${plan.toFixed(1)} ms, write ${write.toFixed(1)} ms (${files} files, ${(bytes / 1024).toFixed(0)} KiB); parse+validate only ${median(parseOnly).toFixed(1)} ms`);
      rows.push({ metric: `generate ${n} team(s): plan + write`, ours: plan + write, baseline: median(parseOnly), unit: 'ms (baseline: parse+validate only)' });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  console.log(`BENCH_JSON ${JSON.stringify({ rows })}`);
}

main();

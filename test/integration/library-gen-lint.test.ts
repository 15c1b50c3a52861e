import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '../groovy/harness-runner';

/**
 * npm-groovy-lint (CodeNarc, recommended-jenkinsfile rules) reports no error on
 * the generated Groovy: vars/, the Job DSL seed and the Jenkinsfiles. One run
 * (≈ 10 s on an idle machine; minutes when the CPU is shared, hence the timeout).
 */
const root = join(__dirname, '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'jsm-libgen-lint-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface LintReport {
  summary: { totalFilesLinted: number; totalFoundErrorNumber: number };
  files: Record<string, { errors: { severity: string; rule: string; msg: string; line?: number }[] }>;
}

it('npm-groovy-lint --failon error passes on every generated Groovy file', () => {
  const out = join(scratch, 'dist');
  generate(readFileSync(join(root, 'examples', 'teams.yml'), 'utf8'), out);
  const dir = join(scratch, 'lint');
  mkdirSync(dir);
  for (const sub of ['library/vars', 'jobdsl']) {
    for (const n of readdirSync(join(out, sub)).filter((x) => x.endsWith('.groovy'))) copyFileSync(join(out, sub, n), join(dir, n));
  }
  for (const n of readdirSync(join(out, 'pipelines'))) copyFileSync(join(out, 'pipelines', n), join(dir, `${n}.groovy`));
  writeFileSync(join(dir, '.groovylintrc.json'), JSON.stringify({ extends: 'recommended-jenkinsfile' }));
  const r = spawnSync(
    join(root, 'node_modules', '.bin', 'npm-groovy-lint'),
    ['--noserver', '-j', '/usr/lib/jvm/java-17-openjdk-amd64/bin/java', '--failon', 'error', '-o', 'json', '.'],
    { cwd: dir, encoding: 'utf8', timeout: 590_000, maxBuffer: 64 * 1024 * 1024 },
  );
  if (!r.stdout.trim()) throw new Error(`npm-groovy-lint printed no report (exit ${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  const report = JSON.parse(r.stdout) as LintReport;
  const errors = Object.entries(report.files).flatMap(([f, v]) => v.errors.filter((e) => e.severity === 'error').map((e) => `${f}:${e.line ?? '?'} ${e.rule} ${e.msg}`));
  expect(errors).toEqual([]);
  expect(report.summary.totalFilesLinted).toBeGreaterThan(20);
  expect(r.status).toBe(0);
}, 600_000);

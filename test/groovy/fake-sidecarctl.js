#!/usr/bin/env node
// A stand-in for `sidecarctl call` used by the Groovy harness tests where a step's
// method needs services a test does not start (HAProxy + Jenkins containers).
// It speaks sidecarctl's contract exactly: progress on stderr, result file, exit
// 0 / 3 (code printed, {"error":...} in the result file) / 4, and records every
// call (method, params, whether a token was present) as JSON lines in FAKE_SIDECAR_LOG.
// Answers come from FAKE_SIDECAR_ANSWERS (JSON: method -> result, or -> {"error":{code,message,reason?}},
// or -> a list consumed one answer per call).
'use strict';
const fs = require('node:fs');

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
if (argv[0] !== 'call' || !argv[1]) {
  process.stderr.write('usage: sidecarctl call <method> --params-file F --result-file F\n');
  process.exit(2);
}
const method = argv[1];
const paramsFile = opt('--params-file');
const resultFile = opt('--result-file');
let params = {};
try {
  params = paramsFile ? JSON.parse(fs.readFileSync(paramsFile, 'utf8')) : {};
} catch (err) {
  process.stderr.write(`sidecarctl: --params-file ${paramsFile} is not valid JSON: ${err.message}\n`);
  process.exit(2);
}
const token = (process.env.SIDECAR_TOKEN || '').trim();
const logFile = process.env.FAKE_SIDECAR_LOG;
const answersFile = process.env.FAKE_SIDECAR_ANSWERS;
if (logFile) fs.appendFileSync(logFile, JSON.stringify({ method, params, token: token !== '', url: process.env.SIDECAR_URL || null }) + '\n');
if (!token) {
  process.stderr.write('sidecarctl: SIDECAR_TOKEN is not set: export the sidecar token (Jenkins credential sidecar-token)\n');
  process.exit(4);
}
const answers = answersFile ? JSON.parse(fs.readFileSync(answersFile, 'utf8')) : {};
let answer = answers[method];
if (Array.isArray(answer)) {
  // Consume one answer per call; the last one repeats.
  const counterFile = `${answersFile}.${method}.count`;
  const n = fs.existsSync(counterFile) ? Number(fs.readFileSync(counterFile, 'utf8')) : 0;
  fs.writeFileSync(counterFile, String(n + 1));
  answer = answer[Math.min(n, answer.length - 1)];
}
if (answer === undefined) {
  process.stderr.write(`sidecarctl: METHOD_NOT_FOUND: the fake has no answer for ${method}\n`);
  process.exit(3);
}
process.stderr.write(`progress: ${JSON.stringify({ method, phase: 'started' })}\n`);
if (answer && typeof answer === 'object' && answer.error) {
  const e = answer.error;
  // As agent/src/cli/ctl-output.ts: the reason (a CONFLICT's data.reason) beside the code.
  process.stderr.write(`sidecarctl: ${e.code}${e.reason ? ` (${e.reason})` : ''}: ${e.message}\n`);
  const reason = e.reason ? { reason: e.reason } : {};
  if (resultFile) fs.writeFileSync(resultFile, JSON.stringify({ error: { code: -32000, message: e.message, data: { code: e.code, ...reason }, symbolicCode: e.code, ...reason } }, null, 2) + '\n');
  process.exit(3);
}
if (resultFile) fs.writeFileSync(resultFile, JSON.stringify(answer, null, 2) + '\n');
else process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
process.exit(0);

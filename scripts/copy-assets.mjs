#!/usr/bin/env node
// tsc compiles only .ts: copy the other files the code reads at run time
// (SQL migrations, the dashboard page, ...) from the source folders into build/.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = ['agent/src', 'catalog', 'library-gen/src'];

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (!p.endsWith('.ts')) cpSync(p, join(root, 'build', relative(root, p)));
  }
}
for (const s of SOURCES) if (existsSync(join(root, s))) walk(join(root, s));

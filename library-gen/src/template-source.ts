import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Handlebars from 'handlebars';

/**
 * The Handlebars templates (everything under library-gen/templates/: the
 * library's vars/, pipelines/, jobdsl/, team/, resources/, haproxy.cfg) compiled
 * once per process. Strict mode makes a missing
 * value an error instead of an empty string; noEscape because the output is Groovy,
 * YAML and text, never HTML (values are made safe by groovy-literal.ts instead).
 */
export type Render = (context: object) => string;

export interface TemplateSource {
  /** The installation root; template paths are relative to it (`library-gen/templates/...`). */
  root: string;
  get(relPath: string): Render;
  has(relPath: string): boolean;
}

/** The one folder every template lives in, relative to the installation root. */
export const TEMPLATES_DIR = 'library-gen/templates';

/** The repository root, found from the source tree or from build/. */
export function findTemplateRoot(start: string = __dirname): string {
  let dir = start;
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, TEMPLATES_DIR, 'vars')) && existsSync(join(dir, TEMPLATES_DIR, 'pipelines'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`library-gen: cannot find the templates (${TEMPLATES_DIR}/) above ${start}`);
}

export function loadTemplates(root: string = findTemplateRoot()): TemplateSource {
  const hb = Handlebars.create();
  const partialsDir = join(root, TEMPLATES_DIR, 'vars');
  for (const name of readdirSync(partialsDir)) {
    if (name.endsWith('.groovy.hbs') && !name.startsWith('jsm') && name !== 'step.groovy.hbs') {
      hb.registerPartial(name.replace(/\.groovy\.hbs$/, ''), readFileSync(join(partialsDir, name), 'utf8'));
    }
  }
  const cache = new Map<string, Render>();
  return {
    root,
    has: (rel) => existsSync(join(root, rel)),
    get(rel) {
      let t = cache.get(rel);
      if (!t) {
        const path = join(root, rel);
        if (!existsSync(path)) throw new Error(`library-gen: template ${rel} not found under ${root}`);
        const compiled = hb.compile(readFileSync(path, 'utf8'), { strict: true, noEscape: true });
        t = (ctx: object) => compiled(ctx);
        cache.set(rel, t);
      }
      return t;
    },
  };
}

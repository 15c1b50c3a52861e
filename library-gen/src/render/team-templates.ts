import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';

/**
 * The Handlebars templates of a team's files (library-gen/templates/team/).
 * Values reach Groovy only through `gq`, which refuses what it cannot quote
 * safely; the teams-file patterns already exclude quotes and backslashes, so a
 * refusal here means a caller skipped validation.
 */
export class TeamRenderError extends Error {
  override readonly name = 'TeamRenderError';
}

const TEMPLATE_NAMES = ['Dockerfile.hbs', 'seedJob.groovy.hbs'] as const;
export type TeamTemplateName = (typeof TEMPLATE_NAMES)[number];

function templateDir(): string {
  // Source tree (library-gen/src/render) and build tree (build/library-gen/src/render) both reach it.
  const candidates = [join(__dirname, '../../templates/team'), join(__dirname, '../../../../library-gen/templates/team')];
  const found = candidates.find((p) => existsSync(join(p, TEMPLATE_NAMES[0])));
  if (!found) throw new TeamRenderError(`team templates not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** A Groovy single-quoted literal; only printable text without quote, backslash or newline passes. */
export function groovySingleQuoted(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value) || /['\\]/.test(value)) {
    throw new TeamRenderError(`cannot put ${JSON.stringify(value)} into generated Groovy: quotes, backslashes and control characters are not allowed`);
  }
  return `'${value}'`;
}

let compiled: Map<TeamTemplateName, Handlebars.TemplateDelegate> | undefined;

function templates(): Map<TeamTemplateName, Handlebars.TemplateDelegate> {
  if (compiled) return compiled;
  const hb = Handlebars.create();
  hb.registerHelper('gq', (v: unknown) => groovySingleQuoted(String(v)));
  const dir = templateDir();
  const map = new Map<TeamTemplateName, Handlebars.TemplateDelegate>();
  for (const name of TEMPLATE_NAMES) {
    map.set(name, hb.compile(readFileSync(join(dir, name), 'utf8'), { strict: true, noEscape: true }));
  }
  compiled = map;
  return map;
}

export function renderTeamTemplate(name: TeamTemplateName, data: Record<string, unknown>): string {
  const tpl = templates().get(name);
  if (!tpl) throw new TeamRenderError(`unknown team template ${name}`);
  return tpl(data);
}

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/base/config-schema.js';
import { completionWords } from '../../src/cli/commands.js';
import { commandSections } from '../../src/cli/commands/help.js';
import { prometheusText } from '../../src/observe/metrics.js';
import { headings } from '../../scripts/docs/markdown.js';

// The references cannot drift from the code they describe: the config reference names every field
// the schema allows and none it lacks, the commands reference every command and option the command
// line has, the metrics reference every metric fanout writes.

const DOCS = path.resolve(import.meta.dirname, '..', '..', 'docs', 'reference');
const read = (page: string): string => fs.readFileSync(path.join(DOCS, page), 'utf8');

/** A valibot schema, as far as the walk below reads it. */
interface SchemaNode {
  type: string;
  wrapped?: SchemaNode;
  entries?: Record<string, SchemaNode>;
  item?: SchemaNode;
  value?: SchemaNode;
}

function unwrapped(node: SchemaNode): SchemaNode {
  let n = node;
  while (n.wrapped !== undefined) n = n.wrapped;
  return n;
}

/** Whether a schema holds fields of its own (an object, or a list or map of objects). */
function holdsFields(node: SchemaNode): boolean {
  const n = unwrapped(node);
  return n.entries !== undefined || (n.item !== undefined && holdsFields(n.item)) || (n.type === 'record' && n.value !== undefined && holdsFields(n.value));
}

/**
 * Every field path of the schema, as the config reference writes them (`checks.url`,
 * `targets[].ssh.port`, `zones.*.relays[].dest`), each with whether it is a leaf (holds no fields).
 */
function fieldPaths(node: SchemaNode, prefix = ''): Map<string, boolean> {
  const n = unwrapped(node);
  const out = new Map<string, boolean>();
  if (prefix !== '') out.set(prefix, !holdsFields(n));
  if (n.entries !== undefined) {
    for (const [key, child] of Object.entries(n.entries)) for (const [p, leaf] of fieldPaths(child, prefix === '' ? key : `${prefix}.${key}`)) out.set(p, leaf);
  } else if (n.item !== undefined && holdsFields(n.item)) {
    for (const [p, leaf] of fieldPaths(n.item, `${prefix}[]`)) if (p !== `${prefix}[]`) out.set(p, leaf);
  } else if (n.type === 'record' && n.value !== undefined && holdsFields(n.value)) {
    for (const [p, leaf] of fieldPaths(n.value, `${prefix}.*`)) if (p !== `${prefix}.*`) out.set(p, leaf);
  }
  return out;
}

/** The rows of the markdown tables whose first column is headed `header`: each row's cells. */
function tableRows(markdown: string, header: string): string[][] {
  const rows: string[][] = [];
  let inTable = false;
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = line.slice(1, line.endsWith('|') ? -1 : undefined).split(' | ').map((c) => c.trim());
    if (cells[0] === header) inTable = true;
    else if (inTable && !/^-+$/.test(cells[0] ?? '')) rows.push(cells);
  }
  return rows;
}

/** The names a table's first column gives, one per code span. */
function firstColumnNames(markdown: string, header: string): string[] {
  return tableRows(markdown, header).flatMap((cells) => [...(cells[0] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''));
}

describe('the config reference (docs/reference/config.md)', () => {
  const fields = fieldPaths(configSchema);
  const named = firstColumnNames(read('config.md'), 'field');

  it('reads the schema: the fields every config has, nested ones by their path', () => {
    expect(fields.get('repo')).toBe(true);
    expect(fields.get('checks')).toBe(false);
    expect(fields.get('checks.url')).toBe(true);
    expect(fields.get('targets[].ssh.port')).toBe(true);
    expect(fields.get('zones.*.relays[].dest')).toBe(true);
    expect(fields.get('build.env')).toBe(true);
    expect(fields.get('exclude')).toBe(true);
  });

  it('names every field the schema allows', () => {
    const leaves = [...fields].filter(([, leaf]) => leaf).map(([p]) => p);
    expect(leaves.filter((p) => !named.includes(p)), 'fields of src/base/config-schema.ts with no row in docs/reference/config.md').toEqual([]);
  });

  it('names no field the schema lacks', () => {
    expect(named.filter((p) => !fields.has(p)), 'rows of docs/reference/config.md for fields src/base/config-schema.ts does not have').toEqual([]);
  });
});

describe('the commands reference (docs/reference/commands.md)', () => {
  const page = read('commands.md');
  const words = completionWords();
  const sections = commandSections(page);
  const global = words.global.filter((o) => o !== '--help' && o !== '--version');
  const mentions = (text: string, option: string): boolean => new RegExp(`${option}(?![\\w-])`).test(text);

  it('has a section for every command', () => {
    expect(words.commands.filter((c) => !sections.has(c))).toEqual([]);
  });

  it("names each command's own options in its section", () => {
    const missing = Object.entries(words.options).flatMap(([command, options]) => options.filter((o) => !mentions(sections.get(command) ?? '', o)).map((o) => `${command} ${o}`));
    expect(missing, 'options of src/cli/commands.ts that their section of docs/reference/commands.md does not name').toEqual([]);
  });

  it('names every global option under "Global options"', () => {
    const anchor = headings(page).find((h) => h.text === 'Global options');
    expect(anchor).toBeDefined();
    const start = page.indexOf('\n## Global options\n');
    const section = page.slice(start, page.indexOf('\n## ', start + 1));
    expect(global.filter((o) => !mentions(section, o))).toEqual([]);
  });

  it("names in a command's heading only options that command takes", () => {
    const wrong = [...sections].flatMap(([command, section]) => {
      const heading = section.split('\n')[0] ?? '';
      const taken = new Set([...(words.options[command] ?? []), ...global]);
      return [...heading.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]).filter((o) => !taken.has(o)).map((o) => `${command} ${o}`);
    });
    expect(wrong).toEqual([]);
  });
});

describe('the metrics reference (docs/reference/metrics.md)', () => {
  const facts = { farm: 'site', state: { version: 1 as const, nextDeployId: 1, current: null, source: { commit: null, attempted: [] }, targets: {} }, targets: [], recent: [], behind: new Map<string, number>(), deploys: {} };
  const written = [...prometheusText(facts).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] ?? '');
  const named = firstColumnNames(read('metrics.md'), 'metric');

  it('reads what fanout writes: every family, even one with no sample yet', () => {
    expect(written).toContain('fanout_target_info');
    expect(written).toContain('fanout_deploys_total');
  });

  it('documents every metric fanout writes', () => {
    expect(written.filter((m) => !named.includes(m)), 'metrics of src/observe/metrics.ts with no row in docs/reference/metrics.md').toEqual([]);
  });

  it('documents no metric fanout does not write', () => {
    expect(named.filter((m) => !written.includes(m))).toEqual([]);
  });
});

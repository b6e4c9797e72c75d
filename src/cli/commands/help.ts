import fs from 'node:fs';
import path from 'node:path';
import { installRoot } from '../../base/installation.js';
import { FanoutError } from '../../base/errors.js';

/**
 * `fanout help COMMAND`: the command's section of the commands reference (docs/reference/commands.md),
 * rendered for a terminal. The page ships with fanout (the package holds docs/ beside dist/), so
 * the command reference has one source and the two cannot drift.
 */

/** Where the commands reference lives, from the top of an installation. */
export const COMMANDS_PAGE = 'docs/reference/commands.md';

/** Each command's section of the commands reference, by name: `## \`fanout NAME ...\`` up to the next `## ` heading. */
export function commandSections(page: string): Map<string, string> {
  const sections = new Map<string, string>();
  let inCode = false;
  let start: number | undefined;
  let name: string | undefined;
  const lines = page.split('\n');
  const close = (end: number): void => {
    if (name !== undefined && start !== undefined) sections.set(name, lines.slice(start, end).join('\n').trim());
  };
  lines.forEach((line, i) => {
    if (line.startsWith('```')) inCode = !inCode;
    if (inCode || !line.startsWith('## ')) return;
    close(i);
    name = /^## `fanout ([a-z-]+)/.exec(line)?.[1];
    start = i;
  });
  close(lines.length);
  return sections;
}

/** Where a link of the commands page leads, for a reader in a terminal: a page of docs/ by its path, else nothing. */
function linkTarget(target: string): string {
  if (target.startsWith('#') || /^[a-z]+:/.test(target)) return '';
  const file = target.split('#')[0] ?? '';
  return file === '' ? '' : ` (${path.posix.join(path.posix.dirname(COMMANDS_PAGE), file)})`;
}

/** Markdown as plain text: headings, emphasis, code marks and links undone (a link to another page names it); code blocks indented. */
export function renderForTerminal(markdown: string): string {
  const out: string[] = [];
  let inCode = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      inCode = !inCode;
      continue;
    }
    if (inCode) {
      out.push(line === '' ? '' : `    ${line}`);
      continue;
    }
    out.push(
      line
        .replace(/^#{1,6} /, '')
        .replace(/\*\*([^*]+)\*\*/g, '$1')
        .replace(/\[([^\]]+)\]\(([^)\s]*)\)/g, (_all, text: string, target: string) => `${text}${linkTarget(target)}`)
        .replace(/`([^`]+)`/g, '$1'),
    );
  }
  return `${out.join('\n').trim()}\n`;
}

/** The commands reference beside this installation: the checkout's, or the package's. */
export function commandsPagePath(): string {
  return path.join(installRoot(), COMMANDS_PAGE);
}

/** `fanout help [COMMAND]`: the reference's section for COMMAND; without one, what `showUsage` shows (fanout --help). */
export function runHelp(command: string | undefined, showUsage: () => void): void {
  if (command === undefined) showUsage();
  else process.stdout.write(commandHelp(command));
}

/** The help for one command, from the commands reference at `file`. */
export function commandHelp(command: string, file = commandsPagePath()): string {
  let page: string;
  try {
    page = fs.readFileSync(file, 'utf8');
  } catch {
    throw new FanoutError(`the command reference is ${COMMANDS_PAGE}, and ${file} cannot be read: reinstall fanout, or see fanout ${command} --help`);
  }
  const sections = commandSections(page);
  const section = sections.get(command);
  if (section === undefined) throw new FanoutError(`no command "${command}"; commands: ${[...sections.keys()].join(', ')}`);
  return renderForTerminal(section);
}

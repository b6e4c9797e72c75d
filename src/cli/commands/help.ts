import fs from 'node:fs';
import path from 'node:path';
import { installRoot } from '../../base/installation.js';
import { FanoutError } from '../../base/errors.js';

/**
 * `fanout help COMMAND`: the README's section for the command, rendered for a terminal. The README
 * ships with fanout (the package holds it beside dist/), so the command reference has one source
 * and the two cannot drift.
 */

/** Each command's section of the README's "## Commands", by name: `### \`fanout NAME ...\`` up to the next heading. */
export function commandSections(readme: string): Map<string, string> {
  const start = readme.indexOf('\n## Commands\n');
  if (start === -1) return new Map();
  const rest = readme.slice(start + 1);
  const end = rest.indexOf('\n## ', 1);
  const commands = end === -1 ? rest : rest.slice(0, end);
  const sections = new Map<string, string>();
  for (const part of commands.split(/\n(?=### )/)) {
    const name = /^### `fanout ([a-z-]+)/.exec(part)?.[1];
    if (name !== undefined) sections.set(name, part.trim());
  }
  return sections;
}

/** Markdown as plain text: headings, emphasis, code marks and links undone; code blocks indented. */
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
        .replace(/\[([^\]]+)\]\((?:#|https?:)[^)]*\)/g, '$1')
        .replace(/`([^`]+)`/g, '$1'),
    );
  }
  return `${out.join('\n').trim()}\n`;
}

/** The README beside this installation: the checkout's, or the package's. */
export function readmePath(): string {
  return path.join(installRoot(), 'README.md');
}

/** `fanout help [COMMAND]`: the README's section for COMMAND; without one, what `showUsage` shows (fanout --help). */
export function runHelp(command: string | undefined, showUsage: () => void): void {
  if (command === undefined) showUsage();
  else process.stdout.write(commandHelp(command));
}

/** The help for one command, from the README at `file`. */
export function commandHelp(command: string, file = readmePath()): string {
  let readme: string;
  try {
    readme = fs.readFileSync(file, 'utf8');
  } catch {
    throw new FanoutError(`the command reference is the README, and ${file} cannot be read: reinstall fanout, or see fanout ${command} --help`);
  }
  const sections = commandSections(readme);
  const section = sections.get(command);
  if (section === undefined) throw new FanoutError(`no command "${command}"; commands: ${[...sections.keys()].join(', ')}`);
  return renderForTerminal(section);
}

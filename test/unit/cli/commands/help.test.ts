import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCli } from '../../../../src/cli/commands.js';
import { FanoutError } from '../../../../src/base/errors.js';
import { commandHelp, commandSections, readmePath, renderForTerminal } from '../../../../src/cli/commands/help.js';

const readme = fs.readFileSync(readmePath(), 'utf8');

describe('fanout help COMMAND, from the README', () => {
  it('finds the README this installation ships', () => {
    expect(readmePath()).toBe(path.resolve(import.meta.dirname, '..', '..', '..', '..', 'README.md'));
  });

  it('every command the command line has has a section in the README, and nothing else does', async () => {
    const commands = (await buildCli([]).getCompletion(['']) as string[]).sort();
    expect(commands.length).toBeGreaterThan(10);
    expect([...commandSections(readme).keys()].sort()).toEqual(commands);
  });

  it('a section runs from its heading to the next one, and only commands count', () => {
    const sections = commandSections('# x\n\n## Commands\n\nintro\n\n### `fanout deploy [REV]`\n\nSends it.\n\n### `fanout watch`\n\nWatches.\n\n### Dry runs\n\nnot a command\n\n## Config\n\n### `fanout nope`\n');
    expect([...sections.keys()]).toEqual(['deploy', 'watch']);
    expect(sections.get('deploy')).toBe('### `fanout deploy [REV]`\n\nSends it.');
    expect(sections.get('watch')).toBe('### `fanout watch`\n\nWatches.');
  });

  it('renders markdown for a terminal: no heading marks, code marks, emphasis or link targets; code blocks indented', () => {
    const text = renderForTerminal('### `fanout x`\n\nRun `fanout x` **now**; see [Builds](#builds).\n\n```\n$ fanout x\nok\n```\n- a `list`\n');
    expect(text).toBe('fanout x\n\nRun fanout x now; see Builds.\n\n    $ fanout x\n    ok\n- a list\n');
  });

  it("prints the README's own words for a command, and names the commands for an unknown one", () => {
    const help = commandHelp('rollback');
    expect(help.startsWith('fanout rollback [REV] [--dry-run]\n')).toBe(true);
    const firstSentence = /### `fanout rollback[^\n]*\n\n([^\n]+)/.exec(readme)?.[1]?.replace(/`/g, '') ?? '';
    expect(firstSentence.length).toBeGreaterThan(20);
    expect(help).toContain(firstSentence);
    expect(() => commandHelp('deplyo')).toThrow(FanoutError);
    expect(() => commandHelp('deplyo')).toThrow(/no command "deplyo"; commands: init, hook, deploy/);
  });

  it('says where the reference should be when the README is missing', () => {
    expect(() => commandHelp('deploy', '/nonexistent/README.md')).toThrow(/the command reference is the README, and \/nonexistent\/README.md cannot be read/);
  });
});

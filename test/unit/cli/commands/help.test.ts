import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCli } from '../../../../src/cli/commands.js';
import { FanoutError } from '../../../../src/base/errors.js';
import { commandHelp, commandSections, commandsPagePath, renderForTerminal } from '../../../../src/cli/commands/help.js';

const page = fs.readFileSync(commandsPagePath(), 'utf8');

describe('fanout help COMMAND, from the commands reference', () => {
  it('finds the commands reference this installation ships', () => {
    expect(commandsPagePath()).toBe(path.resolve(import.meta.dirname, '..', '..', '..', '..', 'docs', 'reference', 'commands.md'));
  });

  it('every command the command line has has a section in the reference, and nothing else does', async () => {
    const commands = (await buildCli([]).getCompletion(['']) as string[]).sort();
    expect(commands.length).toBeGreaterThan(10);
    expect([...commandSections(page).keys()].sort()).toEqual(commands);
  });

  it('a section runs from its heading to the next one of its level, and only commands count', () => {
    const sections = commandSections('# x\n\n## Global options\n\nintro\n\n## `fanout deploy [REV]`\n\nSends it.\n\n### Examples\n\nsome\n\n```sh\n## not a heading\n```\n\n## `fanout watch`\n\nWatches.\n\n## Dry runs\n\nnot a command\n');
    expect([...sections.keys()]).toEqual(['deploy', 'watch']);
    expect(sections.get('deploy')).toBe('## `fanout deploy [REV]`\n\nSends it.\n\n### Examples\n\nsome\n\n```sh\n## not a heading\n```');
    expect(sections.get('watch')).toBe('## `fanout watch`\n\nWatches.');
  });

  it('renders markdown for a terminal: no heading marks, code marks, emphasis or link targets; code blocks indented', () => {
    const text = renderForTerminal('## `fanout x`\n\nRun `fanout x` **now**; see [Progress](#progress) and [rsync](https://rsync.samba.org/).\n\n```\n$ fanout x\nok\n```\n- a `list`\n');
    expect(text).toBe('fanout x\n\nRun fanout x now; see Progress and rsync.\n\n    $ fanout x\n    ok\n- a list\n');
  });

  it('names the page a link to another page of the documentation leads to', () => {
    expect(renderForTerminal('See [Builds](../guides/builds.md#builds) and [Exit codes](exit-codes.md).')).toBe('See Builds (docs/guides/builds.md) and Exit codes (docs/reference/exit-codes.md).\n');
  });

  it("prints the reference's own words for a command, and names the commands for an unknown one", () => {
    const help = commandHelp('rollback');
    expect(help.startsWith('fanout rollback [REV] [--dry-run]\n')).toBe(true);
    const firstSentence = /## `fanout rollback[^\n]*\n\n([^\n]+)/.exec(page)?.[1]?.replace(/`/g, '') ?? '';
    expect(firstSentence.length).toBeGreaterThan(20);
    expect(help).toContain(firstSentence);
    expect(() => commandHelp('deplyo')).toThrow(FanoutError);
    expect(() => commandHelp('deplyo')).toThrow(/no command "deplyo"; commands: init, hook, deploy/);
  });

  it('says where the reference should be when it is missing', () => {
    expect(() => commandHelp('deploy', '/nonexistent/commands.md')).toThrow(/the command reference is docs\/reference\/commands.md, and \/nonexistent\/commands.md cannot be read/);
  });
});

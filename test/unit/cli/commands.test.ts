import { describe, expect, it } from 'vitest';
import { FanoutError } from '../../../src/base/errors.js';
import { buildCli, completionWords } from '../../../src/cli/commands.js';

/** The command line's own words: what it says with no command, and which options each command offers. */

async function failure(argv: string[]): Promise<string> {
  try {
    await buildCli(argv).parseAsync();
  } catch (error) {
    expect(error).toBeInstanceOf(FanoutError);
    return (error as FanoutError).message;
  }
  throw new Error(`fanout ${argv.join(' ')} did not fail`);
}

/** What `fanout ARGV --help` prints, caught by yargs' parse callback instead of written out. */
async function help(argv: string[]): Promise<string> {
  let text = '';
  await buildCli(argv)
    .exitProcess(false)
    .parseAsync(argv, {}, (_error, _args, output) => {
      text = output;
    });
  return text;
}

describe('the command line', () => {
  it('with no command, says to see fanout --help once', async () => {
    expect(await failure([])).toBe('name a command (see fanout --help)');
  });

  it("--config's help names every place fanout looks, in order", async () => {
    expect(await help(['--help'])).toMatch(/--config +config file \(default: \$FANOUT_CONFIG, else \.\/fanout\.yaml, else\s+\/etc\/fanout\/fanout\.yaml\)/);
  });

  it('offers --dry-run to deploy, rollback and sync, and to no other command', async () => {
    const option = /^ +--dry-run /m;
    for (const name of ['deploy', 'rollback', 'sync']) expect(await help([name, '--help']), name).toMatch(option);
    for (const name of ['status', 'history', 'verify', 'watch', 'doctor', 'init']) {
      expect(await help([name, '--help']), name).not.toMatch(option);
    }
    expect(await help(['--help'])).not.toMatch(option);
    expect(await failure(['status', '--dry-run'])).toMatch(/^Unknown arguments?: dry-run/);
  });
});

describe('the words of the static completion script', () => {
  it('are the commands of fanout --help, each with its own options', async () => {
    const words = completionWords();
    expect(words.commands).toEqual(await buildCli([]).getCompletion(['']));
    expect(words.global).toEqual(['--config', '--json', '--stage', '--target', '--verbose', '--help', '--version']);
    expect(words.options.deploy).toEqual(['--full', '--dry-run', '--allow-empty', '--max-delete', '--force', '--override-lock', '--message']);
    expect(words.options.lock).toEqual(['--message', '--all-stages']);
    expect(words.options.unlock).toEqual(['--all-stages']);
    expect(words.options.verify).toEqual(['--all-slots']);
    expect(words.options.status).toEqual(['--prometheus']);
    expect(words.positionals).toEqual({ help: words.commands, hook: ['post-receive', 'pre-receive'] });
    expect(words.options.log).toEqual(['--follow', '--deploy', '--level']);
    expect(words.valued.sort()).toEqual(['--branch', '--config', '--deploy', '--level', '--limit', '--max-delete', '--message', '--repo', '--source', '--stage', '--target']);
    expect(words.options.promote).toEqual(['--full', '--dry-run', '--allow-empty', '--max-delete', '--force', '--override-lock', '--message']);
  });
});
